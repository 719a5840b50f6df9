from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.access.service import require_org
from nfhub_admin.audit.repository import AuditRepository
from nfhub_admin.audit.schemas import AuditFilters
from nfhub_shared.auth.principal import OrgRole, Principal


class AuditService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_events(
        self, principal: Principal, filters: AuditFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        await require_org(self.session, principal, filters.org_id, OrgRole.admin)
        return await AuditRepository(self.session).list_events(filters, limit=limit, offset=offset)
