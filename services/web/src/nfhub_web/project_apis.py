"""What the pages' services share: one project's data at the APIs, asked for as the session's
user (their token, their picked project), so that no page can forget either."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from nfhub_web.apis import ApiProblem, Apis, ModelT, Service
from nfhub_web.schemas import Page, Pipeline
from nfhub_web.sessions.service import ActiveSession

# The most pipelines a form offers to pick from (compute's largest page).
PIPELINES_OFFERED = 500


class ProjectApis:
    """The base of a project page's service: every call carries the user's token and the
    session's project (the APIs check both; web decides nothing)."""

    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, f"{type(self).__name__} needs a project"
        self.apis = apis
        self.token = session.access_token
        self.project_id: uuid.UUID = session.project_id
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
