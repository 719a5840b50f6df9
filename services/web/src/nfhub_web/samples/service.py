"""Samples at miner, as the user sees them in the current project; and their import from a
samplesheet, which miner takes whole or not at all."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_web.apis import ApiProblem, Apis
from nfhub_web.samples.schemas import ImportResult, SampleFilters, SampleRead
from nfhub_web.schemas import Page, Pipeline
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.subjects.schemas import SubjectRead

# The sample form offers this many subjects to pick from (miner's largest page).
SUBJECTS_OFFERED = 500
PIPELINES_OFFERED = 500


class SamplesService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, "samples pages need a project"
        self.apis = apis
        self.token = session.access_token
        self.project_id: uuid.UUID = session.project_id

    async def _read(self, model: Any, path: str, **kwargs: Any) -> Any:
        return await self.apis.read(
            model, "miner", path, token=self.token, project_id=self.project_id, **kwargs
        )

    async def list_samples(self, filters: SampleFilters) -> Page[SampleRead]:
        page: Page[SampleRead] = await self._read(
            Page[SampleRead], "/samples", params=filters.api_params()
        )
        return page

    async def get_sample(self, sample_id: uuid.UUID) -> SampleRead:
        sample: SampleRead = await self._read(SampleRead, f"/samples/{sample_id}")
        return sample

    async def sampleinfo(self, sample_id: uuid.UUID) -> tuple[str | None, ApiProblem | None]:
        """miner's pipeline-ready JSON of the sample, as it sends it (or why it cannot)."""
        try:
            response = await self.apis.call(
                "miner",
                "GET",
                f"/samples/{sample_id}/sampleinfo",
                token=self.token,
                project_id=self.project_id,
            )
        except ApiProblem as problem:
            if problem.status == 401:
                raise
            return None, problem
        return response.text, None

    async def subjects(self) -> list[SubjectRead]:
        """The subjects a sample can belong to, newest first."""
        page: Page[SubjectRead] = await self._read(
            Page[SubjectRead], "/subjects", params={"limit": SUBJECTS_OFFERED}
        )
        return page.items

    async def pipelines(self) -> list[Pipeline]:
        """Pipelines an import can be checked against (none when compute does not answer:
        the import works without)."""
        try:
            page: Page[Pipeline] = await self.apis.read(
                Page[Pipeline],
                "compute",
                "/pipelines",
                token=self.token,
                project_id=self.project_id,
                params={"limit": PIPELINES_OFFERED},
            )
        except ApiProblem as problem:
            if problem.status < 500:
                raise
            return []
        return page.items

    async def create(self, body: dict[str, Any]) -> SampleRead:
        sample: SampleRead = await self._read(SampleRead, "/samples", method="POST", json=body)
        return sample

    async def update(self, sample_id: uuid.UUID, body: dict[str, Any]) -> SampleRead:
        sample: SampleRead = await self._read(
            SampleRead, f"/samples/{sample_id}", method="PATCH", json=body
        )
        return sample

    async def delete(self, sample_id: uuid.UUID) -> None:
        await self.apis.call(
            "miner", "DELETE", f"/samples/{sample_id}", token=self.token, project_id=self.project_id
        )

    async def import_sheet(
        self, sheet: bytes, filename: str, content_type: str, pipeline: str | None
    ) -> ImportResult:
        """The sheet to miner as the browser sent it (a multipart file part: miner reads its
        format from the type or the name)."""
        result: ImportResult = await self._read(
            ImportResult,
            "/samples/import",
            method="POST",
            params={"pipeline": pipeline} if pipeline else None,
            files={"file": (filename, sheet, content_type)},
        )
        return result
