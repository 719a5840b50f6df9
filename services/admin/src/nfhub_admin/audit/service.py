from __future__ import annotations

from typing import Any

from nfhub_admin.access.service import require_org
from nfhub_admin.audit.repository import AuditRepository
from nfhub_admin.audit.schemas import AuditEventRead, AuditFilters
from nfhub_admin.models import Project
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal
from nfhub_shared.db.session import AsyncSession


async def record_project_event(
    audit: AuditWriter,
    session: AsyncSession,
    principal: Principal,
    action: str,
    project: Project,
    details: dict[str, Any],
) -> None:
    """An event about a project (and its members), findable by org and by project."""
    await audit.record(
        session,
        actor=principal,
        action=action,
        resource_type="project",
        resource_id=project.id,
        org_id=project.org_id,
        project_id=project.id,
        details=details,
    )


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_events(
        self, principal: Principal, filters: AuditFilters, *, limit: int, offset: int
    ) -> tuple[list[AuditEventRead], int]:
        await require_org(self.session, principal, filters.org_id, OrgRole.admin)
        rows, count = await AuditRepository(self.session).list_events(
            filters, limit=limit, offset=offset
        )
        return [AuditEventRead.model_validate(row) for row in rows], count
