"""Members and their roles, of the current project or of its organisation, at admin (which
decides who may change them: a project admin, or an org owner or admin)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from nfhub_web.apis import Apis
from nfhub_web.schemas import Org, Page, Project, ProjectMember
from nfhub_web.sessions.service import ActiveSession

MEMBERS_PER_PAGE = 100
Scope = Literal["project", "org"]
ROLES: dict[Scope, tuple[str, ...]] = {
    "project": ("viewer", "editor", "admin"),
    "org": ("member", "admin", "owner"),
}
MANAGERS: dict[Scope, frozenset[str]] = {
    "project": frozenset({"admin"}),
    "org": frozenset({"admin", "owner"}),
}


@dataclass(frozen=True)
class Membership:
    """Whose members these are, and the user's own role there."""

    scope: Scope
    name: str
    role: str
    roles: tuple[str, ...]

    @property
    def manages(self) -> bool:
        return self.role in MANAGERS[self.scope]

    @property
    def path(self) -> str:
        return "/members" if self.scope == "project" else "/org/members"


class MembersService:
    def __init__(self, apis: Apis, session: ActiveSession, scope: Scope = "project") -> None:
        assert session.project_id is not None, "members pages need a project"
        assert session.org_id is not None, "a project has an org"
        self.apis = apis
        self.token = session.access_token
        self.scope: Scope = scope
        self.base = (
            f"/projects/{session.project_id}" if scope == "project" else f"/orgs/{session.org_id}"
        )

    async def membership(self) -> Membership:
        """The project or org with the user's own role in it."""
        found: Project | Org = await self.apis.read(
            Project if self.scope == "project" else Org, "admin", self.base, token=self.token
        )
        return Membership(self.scope, found.name, found.role, ROLES[self.scope])

    async def list_members(self, offset: int = 0) -> Page[ProjectMember]:
        return await self.apis.read(
            Page[ProjectMember],
            "admin",
            f"{self.base}/members",
            token=self.token,
            params={"limit": MEMBERS_PER_PAGE, "offset": offset},
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
