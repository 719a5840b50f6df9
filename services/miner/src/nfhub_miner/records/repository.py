"""Subjects and samples: rows of one project, listed, filtered, searched and counted alike."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

from sqlalchemy import ColumnElement, Row, Select, delete, func, select

from nfhub_miner.counts import ProjectCountRepository
from nfhub_miner.fields import search_query
from nfhub_miner.models import Order, OrderSample, Sample, Subject
from nfhub_miner.records.filters import RecordFilters
from nfhub_shared.db.repository import Repository

RecordT = TypeVar("RecordT", Subject, Sample)


class RecordRepository(Repository[RecordT]):
    kind: ClassVar[str]  # its row in project_counts

    async def get_in_project(
        self, project_id: uuid.UUID, record_id: uuid.UUID, *, for_update: bool = False
    ) -> RecordT | None:
        statement = select(self.model).where(
            self.model.id == record_id, self.model.project_id == project_id
        )
        if for_update:
            statement = statement.with_for_update()
        found: RecordT | None = await self.session.scalar(statement)
        return found

    async def by_display_ids(
        self, project_id: uuid.UUID, display_ids: Sequence[str]
    ) -> dict[str, RecordT]:
        if not display_ids:
            return {}
        rows = await self.session.scalars(
            select(self.model).where(
                self.model.project_id == project_id, self.model.display_id.in_(display_ids)
            )
        )
        return {record.display_id: record for record in rows}

    async def existing_display_ids(
        self, project_id: uuid.UUID, display_ids: Sequence[str]
    ) -> set[str]:
        if not display_ids:
            return set()
        rows = await self.session.scalars(
            select(self.model.display_id).where(
                self.model.project_id == project_id, self.model.display_id.in_(display_ids)
            )
        )
        return set(rows)

    async def list_page(
        self,
        statement: Select[*tuple[Any, ...]],
        project_id: uuid.UUID,
        filters: RecordFilters,
        extra: Sequence[ColumnElement[bool]] = (),
        *,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Row[*tuple[Any, ...]]], int]:
        """``statement``'s rows for the project's records that pass the filters, newest first,
        and how many there are."""
        model = self.model
        conditions: list[ColumnElement[bool]] = [model.project_id == project_id, *extra]
        if filters.query:
            words = search_query(filters.query)
            conditions.append(model.search_vector.op("@@")(func.to_tsquery("simple", words)))
        if filters.tag is not None:
            conditions.append(model.tags.contains([filters.tag]))
        if filters.created_after is not None:
            conditions.append(model.created_at >= filters.created_after)
        if filters.created_before is not None:
            conditions.append(model.created_at < filters.created_before)
        rows = (
            await self.session.execute(
                statement.where(*conditions)
                .order_by(model.created_at.desc(), model.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
        if len(conditions) == 1:
            # The whole project: its kept count, not a count(*) over (maybe) millions of rows.
            count = await ProjectCountRepository(self.session).get(project_id, self.kind)
        else:
            count = int(
                await self.session.scalar(
                    select(func.count()).select_from(model).where(*conditions)
                )
                or 0
            )
        return rows, count

    async def add_counted(self, records: Sequence[RecordT]) -> None:
        if not records:
            return
        self.session.add_all(records)
        await self.session.flush()
        await ProjectCountRepository(self.session).change(
            records[0].project_id, self.kind, len(records)
        )

    async def delete_counted(self, project_id: uuid.UUID, record_ids: Sequence[uuid.UUID]) -> int:
        if not record_ids:
            return 0
        result = await self.session.scalars(
            delete(self.model)
            .where(self.model.project_id == project_id, self.model.id.in_(record_ids))
            .returning(self.model.id)
        )
        deleted = len(result.all())
        await ProjectCountRepository(self.session).change(project_id, self.kind, -deleted)
        return deleted


class SampleRecords(RecordRepository[Sample]):
    """Samples as both domains need them: samples themselves, and a subject deleted with its
    samples."""

    model = Sample
    kind = "samples"

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
