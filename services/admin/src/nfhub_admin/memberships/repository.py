from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import InstrumentedAttribute

from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership, User
from nfhub_shared.db.repository import Repository, fetch_page

MembershipT = TypeVar("MembershipT", OrgMembership, ProjectMembership)


class MembershipRepository(Repository[MembershipT]):
    """Memberships of one kind of scope (an org or a project), keyed by ``scope_column``."""

    scope_column: ClassVar[InstrumentedAttribute[uuid.UUID]]
    user_column: ClassVar[InstrumentedAttribute[uuid.UUID]]

    async def get_membership(self, scope_id: uuid.UUID, user_id: uuid.UUID) -> MembershipT | None:
        scope, user = type(self).scope_column, type(self).user_column
        found: MembershipT | None = await self.session.scalar(
            select(self.model).where(scope == scope_id, user == user_id)
        )
        return found

    async def list_members(
        self, scope_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        """(membership, user) rows, by username."""
        statement = (
            select(self.model, User)
            .join(User, User.id == type(self).user_column)
            .where(type(self).scope_column == scope_id)
        )
        return await fetch_page(
            self.session, statement.order_by(User.username), limit=limit, offset=offset
        )


class OrgMembershipRepository(MembershipRepository[OrgMembership]):
    model = OrgMembership
    scope_column = OrgMembership.org_id
    user_column = OrgMembership.user_id

    async def count_owners(self, org_id: uuid.UUID) -> int:
        statement = select(func.count()).where(
            OrgMembership.org_id == org_id, OrgMembership.role == "owner"
        )
        return (await self.session.execute(statement)).scalar_one()

    async def lock_org_memberships(self, org_id: uuid.UUID) -> None:
        """Serialise membership changes of one org (the last-owner rule needs it)."""
        await self.session.execute(select(Org.id).where(Org.id == org_id).with_for_update())


class ProjectMembershipRepository(MembershipRepository[ProjectMembership]):
    model = ProjectMembership
    scope_column = ProjectMembership.project_id
    user_column = ProjectMembership.user_id

    async def delete_for_user_in_org(self, user_id: uuid.UUID, org_id: uuid.UUID) -> None:
        await self.session.execute(
            delete(ProjectMembership).where(
                ProjectMembership.user_id == user_id,
                ProjectMembership.project_id.in_(
                    select(Project.id).where(Project.org_id == org_id)
                ),
            )
        )
