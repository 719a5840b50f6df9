"""What the pages' services share: one project's data at the APIs, asked for as the session's
user (their token, their picked project), so that no page can forget either."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import httpx

from nfhub_web.apis import ApiProblem, Apis, ModelT, Service
from nfhub_web.schemas import Page, Pipeline, ProjectMember
from nfhub_web.sessions.service import ActiveSession

# The most pipelines a form offers to pick from (compute's largest page).
PIPELINES_OFFERED = 500
# admin's largest page: a user id is looked for among this many members of each place.
MEMBERS_LOOKED_UP = 500


class ProjectApis:
    """The base of a project page's service: every call carries the user's token and the
    session's project (the APIs check both; web decides nothing)."""

    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, f"{type(self).__name__} needs a project"
        self.apis = apis
        self.token = session.access_token
        self.project_id: uuid.UUID = session.project_id
        self.org_id = session.org_id
        self.user_id = str(session.user_id)

    async def read(self, model: type[ModelT], service: Service, path: str, **kwargs: Any) -> ModelT:
        return await self.apis.read(
            model, service, path, token=self.token, project_id=self.project_id, **kwargs
        )

    async def call(self, service: Service, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.apis.call(
            service, method, path, token=self.token, project_id=self.project_id, **kwargs
        )

    async def pipeline_choices(self) -> list[Pipeline]:
        """The pipelines a form suggests (none when compute does not answer: the form works
        without them, and the API behind it checks the one given)."""
        try:
            page = await self.read(
                Page[Pipeline], "compute", "/pipelines", params={"limit": PIPELINES_OFFERED}
            )
        except ApiProblem as problem:
            if problem.status < 500:
                raise
            return []
        return page.items

    async def member_names(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Names for the user ids the APIs record (who created, launched or moved what): the
        project's members, then its org's for the ids still unnamed. An id neither lists (a
        user removed since, one of more members than a page holds) is left out, for the page
        to show the id. Names are a courtesy: admin refusing a list (an org's members to a
        non-admin) or failing leaves ids; only an ended login (401) goes on up."""
        wanted = set(user_ids)
        names: dict[str, str] = {}
        places = [f"/projects/{self.project_id}/members"]
        if self.org_id is not None:
            places.append(f"/orgs/{self.org_id}/members")
        for place in places:
            if not wanted - names.keys():
                break
            try:
                members = await self.apis.read(
                    Page[ProjectMember],
                    "admin",
                    place,
                    token=self.token,
                    params={"limit": MEMBERS_LOOKED_UP},
                )
            except ApiProblem as problem:
                if problem.status == 401:
                    raise
                continue
            for member in members.items:
                user_id = str(member.user_id)
                if user_id in wanted:
                    names.setdefault(user_id, member.display_name or member.username)
        return names

    async def member_name(self, user_id: str) -> str:
        """One user id's name, or the id itself (see ``member_names``)."""
        return (await self.member_names([user_id])).get(user_id, user_id)
