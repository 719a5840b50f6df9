from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select

from nfhub_admin.access.repository import projects_with_roles
from nfhub_admin.models import OrgMembership, Project, ProjectMembership
from nfhub_shared.db.repository import Repository, fetch_page


class ProjectRepository(Repository[Project]):
    model = Project

    async def get_by_slug(self, org_id: uuid.UUID, slug: str) -> Project | None:
        return await self.session.scalar(
            select(Project).where(Project.org_id == org_id, Project.slug == slug)
        )

    async def get_by_workspace_id(self, workspace_id: int) -> Project | None:
        return await self.session.scalar(
            select(Project).where(Project.workspace_id == workspace_id)
        )

    async def list_visible(
        self, user_id: uuid.UUID, *, org_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[Sequence[Any], int]:
        """Projects the user is a member of, or that belong to an org they administer."""
        statement = projects_with_roles(user_id).where(
            or_(ProjectMembership.id.is_not(None), OrgMembership.role.in_(("owner", "admin")))
        )
        if org_id is not None:
            statement = statement.where(Project.org_id == org_id)
        return await fetch_page(
            self.session, statement.order_by(Project.slug, Project.id), limit=limit, offset=offset
        )
