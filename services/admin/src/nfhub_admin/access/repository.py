from __future__ import annotations

import uuid

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership


def projects_with_roles(user_id: uuid.UUID) -> Select[Project, str | None, str | None]:
    """Projects with the user's project role and org role beside each (either may be NULL)."""
    return (
        select(Project, ProjectMembership.role, OrgMembership.role)
        .outerjoin(
            ProjectMembership,
            and_(ProjectMembership.project_id == Project.id, ProjectMembership.user_id == user_id),
        )
        .outerjoin(
            OrgMembership,
            and_(OrgMembership.org_id == Project.org_id, OrgMembership.user_id == user_id),
        )
    )


class AccessRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def org_with_role(self, user_id: uuid.UUID, org_id: uuid.UUID) -> tuple[Org, str] | None:
        statement = (
            select(Org, OrgMembership.role)
            .join(OrgMembership, OrgMembership.org_id == Org.id)
            .where(Org.id == org_id, OrgMembership.user_id == user_id)
        )
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1]) if row else None

    async def project_with_roles(
        self, user_id: uuid.UUID, project_id: uuid.UUID
    ) -> tuple[Project, str | None, str | None] | None:
        """The project with the user's project role and org role (either may be missing)."""
        statement = projects_with_roles(user_id).where(Project.id == project_id)
        row = (await self.session.execute(statement)).first()
        return (row[0], row[1], row[2]) if row else None
