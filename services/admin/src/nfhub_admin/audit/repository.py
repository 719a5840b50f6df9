from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.audit.schemas import AuditFilters
from nfhub_admin.models import audit_events
from nfhub_shared.db.repository import fetch_page


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_events(
        self, filters: AuditFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        table = audit_events
        statement = select(table).where(table.c.org_id == filters.org_id)
        if filters.actor_id is not None:
            statement = statement.where(table.c.actor_id == filters.actor_id)
        if filters.action is not None:
            statement = statement.where(table.c.action == filters.action)
        if filters.resource_type is not None:
            statement = statement.where(table.c.resource_type == filters.resource_type)
        if filters.resource_id is not None:
            statement = statement.where(table.c.resource_id == filters.resource_id)
        if filters.occurred_after is not None:
            statement = statement.where(table.c.occurred_at >= filters.occurred_after)
        if filters.occurred_before is not None:
            statement = statement.where(table.c.occurred_at < filters.occurred_before)
        statement = statement.order_by(table.c.occurred_at.desc(), table.c.id)
        return await fetch_page(self.session, statement, limit=limit, offset=offset)
