from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, select

from nfhub_miner.models import Sample, Subject
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.records.repository import SampleRecords

SampleRow = tuple[Sample, str | None]  # the sample and its subject's display id


def _with_subject() -> Select[Sample, str]:
    return select(Sample, Subject.display_id).outerjoin(Subject, Subject.id == Sample.subject_id)


class SampleRepository(SampleRecords):
    async def get_with_subject(
        self, project_id: uuid.UUID, sample_id: uuid.UUID
    ) -> SampleRow | None:
        row = (
            await self.session.execute(
                _with_subject().where(Sample.id == sample_id, Sample.project_id == project_id)
            )
        ).first()
        if row is None:
            return None
        sample, subject_display_id = row
        return sample, subject_display_id

    async def in_project(
        self, project_id: uuid.UUID, sample_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Sample]:
        if not sample_ids:
            return {}
        rows = await self.session.scalars(
            select(Sample).where(Sample.project_id == project_id, Sample.id.in_(sample_ids))
        )
        return {sample.id: sample for sample in rows}

    async def list_in_project(
        self,
        project_id: uuid.UUID,
        filters: RecordFilters,
        *,
        sample_type: str | None,
        subject_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[list[SampleRow], int]:
        extra: list[ColumnElement[bool]] = []
        if sample_type is not None:
            extra.append(Sample.sample_type == sample_type)
        if subject_id is not None:
            extra.append(Sample.subject_id == subject_id)
        rows, count = await self.list_page(
            _with_subject(), project_id, filters, extra, limit=limit, offset=offset
        )
        return [(row[0], row[1]) for row in rows], count
