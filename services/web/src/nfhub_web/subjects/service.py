"""Subjects at miner, as the user sees them in the current project."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_web.apis import Apis
from nfhub_web.samples.schemas import SampleRead
from nfhub_web.schemas import Page
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.subjects.schemas import SubjectFilters, SubjectRead

# The subject page lists this many of its samples (a link leads to all of them).
SAMPLES_SHOWN = 50


class SubjectsService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, "subjects pages need a project"
        self.apis = apis
        self.token = session.access_token
        self.project_id: uuid.UUID = session.project_id

    async def _read(self, model: Any, path: str, **kwargs: Any) -> Any:
        return await self.apis.read(
            model, "miner", path, token=self.token, project_id=self.project_id, **kwargs
        )

    async def list_subjects(self, filters: SubjectFilters) -> Page[SubjectRead]:
        page: Page[SubjectRead] = await self._read(
            Page[SubjectRead], "/subjects", params=filters.api_params()
        )
        return page

    async def get_subject(self, subject_id: uuid.UUID) -> SubjectRead:
        subject: SubjectRead = await self._read(SubjectRead, f"/subjects/{subject_id}")
        return subject

    async def samples_of(self, subject_id: uuid.UUID) -> Page[SampleRead]:
        page: Page[SampleRead] = await self._read(
            Page[SampleRead],
            "/samples",
            params={"subject_id": str(subject_id), "limit": SAMPLES_SHOWN},
        )
        return page

    async def create(self, body: dict[str, Any]) -> SubjectRead:
        subject: SubjectRead = await self._read(SubjectRead, "/subjects", method="POST", json=body)
        return subject

    async def update(self, subject_id: uuid.UUID, body: dict[str, Any]) -> SubjectRead:
        subject: SubjectRead = await self._read(
            SubjectRead, f"/subjects/{subject_id}", method="PATCH", json=body
        )
        return subject

    async def delete(self, subject_id: uuid.UUID, *, cascade: bool) -> None:
        await self.apis.call(
            "miner",
            "DELETE",
            f"/subjects/{subject_id}",
            token=self.token,
            project_id=self.project_id,
            params={"cascade": "true" if cascade else "false"},
        )
