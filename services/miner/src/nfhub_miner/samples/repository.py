from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from nfhub_miner.counts import ProjectCountRepository
from nfhub_miner.fields import search_query
from nfhub_miner.models import Order, OrderSample, Sample, Subject
from nfhub_shared.db.repository import Repository

SampleRow = tuple[Sample, str | None]  # the sample and its subject's display id


def _with_subject() -> Any:
    return select(Sample, Subject.display_id).outerjoin(Subject, Subject.id == Sample.subject_id)


class SampleRepository(Repository[Sample]):
    model = Sample

    async def get_in_project(self, project_id: uuid.UUID, sample_id: uuid.UUID) -> SampleRow | None:
        row = (
            await self.session.execute(
                _with_subject().where(Sample.id == sample_id, Sample.project_id == project_id)
            )
        ).first()
        if row is None:
            return None
        sample, subject_display_id = row
        return sample, subject_display_id

    async def existing_display_ids(
        self, project_id: uuid.UUID, display_ids: Sequence[str]
    ) -> set[str]:
        if not display_ids:
            return set()
        rows = await self.session.scalars(
            select(Sample.display_id).where(
                Sample.project_id == project_id, Sample.display_id.in_(display_ids)
            )
        )
        return set(rows)

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
        *,
        query: str | None,
        sample_type: str | None,
        subject_id: uuid.UUID | None,
        tag: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[SampleRow], int]:
        conditions: list[Any] = [Sample.project_id == project_id]
        if query:
            conditions.append(
                Sample.search_vector.op("@@")(func.to_tsquery("simple", search_query(query)))
            )
        if sample_type is not None:
            conditions.append(Sample.sample_type == sample_type)
        if subject_id is not None:
            conditions.append(Sample.subject_id == subject_id)
        if tag is not None:
            conditions.append(Sample.tags.contains([tag]))
        if created_after is not None:
            conditions.append(Sample.created_at >= created_after)
        if created_before is not None:
            conditions.append(Sample.created_at < created_before)
        statement = (
            _with_subject()
            .where(*conditions)
            .order_by(Sample.created_at.desc(), Sample.id.desc())
            .limit(limit)
            .offset(offset)
        )
        rows: list[SampleRow] = [(row[0], row[1]) for row in await self.session.execute(statement)]
        if len(conditions) == 1:
            # The whole project: its kept count, not a count(*) over (maybe) millions of rows.
            count = await ProjectCountRepository(self.session).get(project_id, "samples")
        else:
            count = int(
                await self.session.scalar(
                    select(func.count()).select_from(Sample).where(*conditions)
                )
                or 0
            )
        return rows, count

    async def add_counted(self, samples: Sequence[Sample]) -> None:
        if not samples:
            return
        self.session.add_all(samples)
        await self.session.flush()
        await ProjectCountRepository(self.session).change(
            samples[0].project_id, "samples", len(samples)
        )

    async def delete_counted(self, project_id: uuid.UUID, sample_ids: Sequence[uuid.UUID]) -> int:
        if not sample_ids:
            return 0
        result = await self.session.scalars(
            delete(Sample)
            .where(Sample.project_id == project_id, Sample.id.in_(sample_ids))
            .returning(Sample.id)
        )
        deleted = len(result.all())
        await ProjectCountRepository(self.session).change(project_id, "samples", -deleted)
        return deleted

    async def ids_of_subject(self, subject_id: uuid.UUID) -> list[uuid.UUID]:
        return list(
            await self.session.scalars(select(Sample.id).where(Sample.subject_id == subject_id))
        )

    async def orders_of(self, sample_ids: Sequence[uuid.UUID]) -> list[tuple[str, str, str]]:
        """(sample display id, order display id, order status) of orders holding them."""
        if not sample_ids:
            return []
        rows = await self.session.execute(
            select(Sample.display_id, Order.display_id, Order.status)
            .join(OrderSample, OrderSample.sample_id == Sample.id)
            .join(Order, Order.id == OrderSample.order_id)
            .where(Sample.id.in_(sample_ids))
            .order_by(Order.display_id)
            .limit(20)
        )
        return [(row[0], row[1], row[2]) for row in rows]
