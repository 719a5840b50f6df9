"""The current project's members and their roles, at admin (which decides who may change
them: a project admin, or an org owner or admin)."""

from __future__ import annotations

import uuid

from nfhub_web.apis import Apis
from nfhub_web.schemas import Page, Project, ProjectMember
from nfhub_web.sessions.service import ActiveSession

MAX_LISTED = 500


class MembersService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, "members pages need a project"
        self.apis = apis
        self.token = session.access_token
        self.base = f"/projects/{session.project_id}"

    async def project(self) -> Project:
        """The project with the user's own role in it."""
        return await self.apis.read(Project, "admin", self.base, token=self.token)

    async def list_members(self) -> Page[ProjectMember]:
        return await self.apis.read(
            Page[ProjectMember],
            "admin",
            f"{self.base}/members",
            token=self.token,
            params={"limit": MAX_LISTED},
        )

    async def add_member(self, username: str, role: str) -> ProjectMember:
        return await self.apis.read(
            ProjectMember,
            "admin",
            f"{self.base}/members",
            method="POST",
            token=self.token,
            json={"username": username, "role": role},
        )

    async def change_role(self, user_id: uuid.UUID, role: str) -> ProjectMember:
        return await self.apis.read(
            ProjectMember,
            "admin",
            f"{self.base}/members/{user_id}",
            method="PATCH",
            token=self.token,
            json={"role": role},
        )

    async def remove_member(self, user_id: uuid.UUID) -> None:
        await self.apis.call("admin", "DELETE", f"{self.base}/members/{user_id}", token=self.token)
