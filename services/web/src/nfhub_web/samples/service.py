"""Samples at miner, as the user sees them in the current project; and their import from a
samplesheet, which miner takes whole or not at all."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_web.apis import ApiProblem
from nfhub_web.project_apis import ProjectApis
from nfhub_web.samples.schemas import ImportResult, SampleFilters, SampleRead
from nfhub_web.schemas import Page
from nfhub_web.subjects.schemas import SubjectRead

# The sample form offers this many subjects to pick from (miner's largest page).
SUBJECTS_OFFERED = 500


class SamplesService(ProjectApis):
    async def list_samples(self, filters: SampleFilters) -> Page[SampleRead]:
        return await self.read(Page[SampleRead], "miner", "/samples", params=filters.api_params())

    async def get_sample(self, sample_id: uuid.UUID) -> SampleRead:
        return await self.read(SampleRead, "miner", f"/samples/{sample_id}")

    async def sampleinfo(self, sample_id: uuid.UUID) -> tuple[str | None, ApiProblem | None]:
        """miner's pipeline-ready JSON of the sample, as it sends it (or why it cannot)."""
        try:
            response = await self.call("miner", "GET", f"/samples/{sample_id}/sampleinfo")
        except ApiProblem as problem:
            if problem.status == 401:
                raise
            return None, problem
        return response.text, None

    async def subjects(self) -> list[SubjectRead]:
        """The subjects a sample can belong to, newest first."""
        page = await self.read(
            Page[SubjectRead], "miner", "/subjects", params={"limit": SUBJECTS_OFFERED}
        )
        return page.items

    async def picked_subject(self, subject_id: str) -> SubjectRead | None:
        """The subject a form names by id, or none when the id names none of the project's."""
        try:
            return await self.read(SubjectRead, "miner", f"/subjects/{uuid.UUID(subject_id)}")
        except ValueError:
            return None
        except ApiProblem as problem:
            if problem.status != 404:
                raise
            return None

    async def create(self, body: dict[str, Any]) -> SampleRead:
        return await self.read(SampleRead, "miner", "/samples", method="POST", json=body)

    async def update(self, sample_id: uuid.UUID, body: dict[str, Any]) -> SampleRead:
        return await self.read(
            SampleRead, "miner", f"/samples/{sample_id}", method="PATCH", json=body
        )

    async def delete(self, sample_id: uuid.UUID) -> None:
        await self.call("miner", "DELETE", f"/samples/{sample_id}")

    async def import_sheet(
        self, sheet: bytes, filename: str, content_type: str, pipeline: str | None
    ) -> ImportResult:
        """The sheet to miner as the browser sent it (a multipart file part: miner reads its
        format from the type or the name)."""
        return await self.read(
            ImportResult,
            "miner",
            "/samples/import",
            method="POST",
            params={"pipeline": pipeline} if pipeline else None,
            files={"file": (filename, sheet, content_type)},
        )
