from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from nfhub_admin.models import Org, OrgMembership, User
from nfhub_shared.db.repository import Repository, fetch_page


class OrgRepository(Repository[Org]):
    model = Org

    async def get_by_slug(self, slug: str) -> Org | None:
        return await self.session.scalar(select(Org).where(Org.slug == slug))

    async def list_for_user(
        self, user_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        statement = (
            select(Org, OrgMembership.role)
            .join(OrgMembership, OrgMembership.org_id == Org.id)
            .where(OrgMembership.user_id == user_id)
        )
        return await fetch_page(
            self.session, statement.order_by(Org.slug), limit=limit, offset=offset
        )


class OrgMembershipRepository(Repository[OrgMembership]):
    model = OrgMembership

    async def get_membership(self, org_id: uuid.UUID, user_id: uuid.UUID) -> OrgMembership | None:
        return await self.session.scalar(
            select(OrgMembership).where(
                OrgMembership.org_id == org_id, OrgMembership.user_id == user_id
            )
        )

    async def count_owners(self, org_id: uuid.UUID) -> int:
        statement = select(func.count()).where(
            OrgMembership.org_id == org_id, OrgMembership.role == "owner"
        )
        return (await self.session.execute(statement)).scalar_one()

    async def lock_org_memberships(self, org_id: uuid.UUID) -> None:
        """Serialise membership changes of one org (the last-owner rule needs it)."""
        await self.session.execute(select(Org.id).where(Org.id == org_id).with_for_update())

    async def list_members(
        self, org_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        statement = (
            select(OrgMembership, User)
            .join(User, User.id == OrgMembership.user_id)
            .where(OrgMembership.org_id == org_id)
        )
        return await fetch_page(
            self.session, statement.order_by(User.username), limit=limit, offset=offset
        )
