from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from nfhub_miner.models import Sample, Subject
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.records.repository import RecordRepository


class SubjectRepository(RecordRepository[Subject]):
    model = Subject
    kind = "subjects"

    async def list_in_project(
        self, project_id: uuid.UUID, filters: RecordFilters, *, limit: int, offset: int
    ) -> tuple[Sequence[Subject], int]:
        rows, count = await self.list_page(
            select(Subject), project_id, filters, limit=limit, offset=offset
        )
        return [row[0] for row in rows], count

    async def sample_count(self, subject_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(Sample).where(Sample.subject_id == subject_id)
            )
            or 0
        )
