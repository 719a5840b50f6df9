"""Subjects at miner, as the user sees them in the current project."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_web.project_apis import ProjectApis
from nfhub_web.samples.schemas import SampleRead
from nfhub_web.schemas import Page
from nfhub_web.subjects.schemas import SubjectFilters, SubjectRead

# The subject page lists this many of its samples (a link leads to all of them).
SAMPLES_SHOWN = 50


class SubjectsService(ProjectApis):
    async def list_subjects(self, filters: SubjectFilters) -> Page[SubjectRead]:
        return await self.read(Page[SubjectRead], "miner", "/subjects", params=filters.api_params())

    async def get_subject(self, subject_id: uuid.UUID) -> SubjectRead:
        return await self.read(SubjectRead, "miner", f"/subjects/{subject_id}")

    async def samples_of(self, subject_id: uuid.UUID) -> Page[SampleRead]:
        return await self.read(
            Page[SampleRead],
            "miner",
            "/samples",
            params={"subject_id": str(subject_id), "limit": SAMPLES_SHOWN},
        )

    async def create(self, body: dict[str, Any]) -> SubjectRead:
        return await self.read(SubjectRead, "miner", "/subjects", method="POST", json=body)

    async def update(self, subject_id: uuid.UUID, body: dict[str, Any]) -> SubjectRead:
        return await self.read(
            SubjectRead, "miner", f"/subjects/{subject_id}", method="PATCH", json=body
        )

    async def delete(self, subject_id: uuid.UUID, *, cascade: bool) -> None:
        await self.call(
            "miner",
            "DELETE",
            f"/subjects/{subject_id}",
            params={"cascade": "true" if cascade else "false"},
        )
