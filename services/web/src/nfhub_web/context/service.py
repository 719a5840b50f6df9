"""Which org and project the pages show: the user's pick, saved as admin's default context
(so the CLI and the next login start there too)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from nfhub_web.apis import Apis
from nfhub_web.schemas import Org, Page, Project
from nfhub_web.sessions.service import ActiveSession

MAX_LISTED = 500  # the APIs' largest page


@dataclass(frozen=True)
class OrgProjects:
    org: Org
    projects: list[Project]


class ContextService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        self.apis = apis
        self.token = session.access_token

    async def choices(self) -> list[OrgProjects]:
        """Every org of the user with the projects they can open in it."""
        orgs = await self.apis.read(
            Page[Org], "admin", "/orgs", token=self.token, params={"limit": MAX_LISTED}
        )
        projects = await self.apis.read(
            Page[Project], "admin", "/projects", token=self.token, params={"limit": MAX_LISTED}
        )
        return [
            OrgProjects(org, [p for p in projects.items if p.org_id == org.id])
            for org in orgs.items
        ]

    async def pick(self, project_id: uuid.UUID) -> tuple[Org, Project]:
        """Make ``project_id`` the user's default context (admin checks they may see it)."""
        project = await self.apis.read(
            Project, "admin", f"/projects/{project_id}", token=self.token
        )
        org = await self.apis.read(Org, "admin", f"/orgs/{project.org_id}", token=self.token)
        await self.apis.call(
            "admin",
            "PUT",
            "/users/me/default-context",
            token=self.token,
            json={"org_id": str(org.id), "project_id": str(project.id)},
        )
        return org, project
