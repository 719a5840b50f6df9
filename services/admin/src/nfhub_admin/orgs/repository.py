from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from nfhub_admin.models import Org, OrgMembership
from nfhub_shared.db.repository import Repository, fetch_page


class OrgRepository(Repository[Org]):
    model = Org

    async def get_by_slug(self, slug: str) -> Org | None:
        return await self.session.scalar(select(Org).where(Org.slug == slug))

    async def list_for_user(
        self, user_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        """(org, the user's role) rows, by slug."""
        statement = (
            select(Org, OrgMembership.role)
            .join(OrgMembership, OrgMembership.org_id == Org.id)
            .where(OrgMembership.user_id == user_id)
        )
        return await fetch_page(
            self.session, statement.order_by(Org.slug), limit=limit, offset=offset
        )
