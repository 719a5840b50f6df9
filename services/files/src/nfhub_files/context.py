"""What every files-service domain works with: one project's storage, and for changes its
transaction and audit log."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_files.config import Settings
from nfhub_files.storage.base import StorageBackend
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession


class ProjectContext:
    def __init__(self, storage: StorageBackend, settings: Settings, access: ProjectAccess) -> None:
        self.storage = storage
        self.settings = settings
        self.access = access
        self.project_id = access.project_id


class ProjectChangeContext(ProjectContext):
    def __init__(
        self,
        session: AsyncSession,
        storage: StorageBackend,
        settings: Settings,
        audit: AuditWriter,
        access: ProjectAccess,
    ) -> None:
        super().__init__(storage, settings, access)
        self.session = session
        self.audit = audit

    async def record(
        self,
        action: str,
        resource_type: str,
        details: dict[str, Any],
        resource_id: uuid.UUID | None = None,
    ) -> None:
        """An audit event in this request's transaction, attributed to the caller's project."""
        await self.audit.record_in_project(
            self.session, self.access, action, resource_type, resource_id, details
        )
