from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select
from sqlalchemy.dialects.postgresql import insert

from nfhub_miner.models import Order, OrderSample, OrderTransition, Sample, Subject
from nfhub_miner.orders.states import OrderStatus
from nfhub_miner.samplesheets.records import SheetEntry, SheetSample, SheetSubject
from nfhub_shared.db.repository import Repository, fetch_page

SHEET_BATCH = 1000


class OrderRepository(Repository[Order]):
    model = Order

    async def get_in_project(
        self, project_id: uuid.UUID, order_id: uuid.UUID, *, for_update: bool = False
    ) -> Order | None:
        statement = select(Order).where(Order.id == order_id, Order.project_id == project_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def display_id_taken(self, project_id: uuid.UUID, display_id: str) -> bool:
        found = await self.session.scalar(
            select(Order.id).where(Order.project_id == project_id, Order.display_id == display_id)
        )
        return found is not None

    async def list_in_project(
        self,
        project_id: uuid.UUID,
        *,
        status: str | None,
        pipeline: str | None,
        tag: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        has_samplesheet: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Order], int]:
        statement = select(Order).where(Order.project_id == project_id)
        if status is not None:
            statement = statement.where(Order.status == status)
        if pipeline is not None:
            statement = statement.where(Order.pipeline_slug == pipeline)
        if tag is not None:
            statement = statement.where(Order.tags.contains([tag]))
        if created_after is not None:
            statement = statement.where(Order.created_at >= created_after)
        if created_before is not None:
            statement = statement.where(Order.created_at < created_before)
        if has_samplesheet is not None:
            statement = statement.where(
                Order.samplesheet_path.is_not(None)
                if has_samplesheet
                else Order.samplesheet_path.is_(None)
            )
        statement = statement.order_by(Order.created_at.desc(), Order.id.desc())
        return await self.paginate(statement, limit=limit, offset=offset)

    async def with_runs(self, run_ids: Sequence[uuid.UUID]) -> Sequence[Order]:
        """The orders of these runs (any project), locked: a user's move waits, or is waited
        for."""
        if not run_ids:
            return []
        statement = select(Order).where(Order.run_id.in_(run_ids)).with_for_update()
        return (await self.session.scalars(statement.order_by(Order.id))).all()

    async def unended(self, run_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
        """Those of ``run_ids`` that are an order's run whose end is not recorded yet."""
        if not run_ids:
            return []
        rows = await self.session.scalars(
            select(Order.run_id).where(Order.run_id.in_(run_ids), Order.run_end_state.is_(None))
        )
        return [run_id for run_id in rows if run_id is not None]

    async def runs_to_follow(self, *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        """A batch of the runs of analyzing orders whose end is not recorded yet (run id
        order, keyset paging)."""
        statement = select(Order.run_id).where(
            Order.status == OrderStatus.analyzing.value,
            Order.run_id.is_not(None),
            Order.run_end_state.is_(None),
        )
        if after is not None:
            statement = statement.where(Order.run_id > after)
        rows = await self.session.scalars(statement.order_by(Order.run_id).limit(limit))
        return [run_id for run_id in rows if run_id is not None]

    async def sample_counts(self, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """Samples in each order, in one grouped query (no N+1)."""
        if not order_ids:
            return {}
        rows = await self.session.execute(
            select(OrderSample.order_id, func.count())
            .where(OrderSample.order_id.in_(order_ids))
            .group_by(OrderSample.order_id)
        )
        return {row[0]: int(row[1]) for row in rows}

    # -- the order's samples ------------------------------------------------------------------

    async def members(self, order_id: uuid.UUID, sample_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        if not sample_ids:
            return set()
        rows = await self.session.scalars(
            select(OrderSample.sample_id).where(
                OrderSample.order_id == order_id, OrderSample.sample_id.in_(sample_ids)
            )
        )
        return set(rows)

    async def add_samples(
        self, order_id: uuid.UUID, roles: Sequence[tuple[uuid.UUID, str]]
    ) -> None:
        if not roles:
            return
        last = await self.session.scalar(
            select(func.coalesce(func.max(OrderSample.position), 0)).where(
                OrderSample.order_id == order_id
            )
        )
        start = int(last or 0)
        await self.session.execute(
            insert(OrderSample),
            [
                {
                    "order_id": order_id,
                    "sample_id": sample_id,
                    "role": role,
                    "position": start + index,
                }
                for index, (sample_id, role) in enumerate(roles, start=1)
            ],
        )

    async def remove_sample(self, order_id: uuid.UUID, sample_id: uuid.UUID) -> bool:
        result = await self.session.scalars(
            delete(OrderSample)
            .where(OrderSample.order_id == order_id, OrderSample.sample_id == sample_id)
            .returning(OrderSample.sample_id)
        )
        return result.first() is not None

    async def list_samples(
        self, order_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Row[Any]], int]:
        """(sample_id, display_id, role, position, added_at) rows, in the order's order."""
        statement = (
            select(
                OrderSample.sample_id,
                Sample.display_id,
                OrderSample.role,
                OrderSample.position,
                OrderSample.added_at,
            )
            .join(Sample, Sample.id == OrderSample.sample_id)
            .where(OrderSample.order_id == order_id)
            .order_by(OrderSample.position)
        )
        return await fetch_page(self.session, statement, limit=limit, offset=offset)

    async def iter_samples(self, order_id: uuid.UUID) -> AsyncIterator[list[SheetEntry]]:
        """The order's (role, sample, subject), in batches, in order: never all in memory,
        and only the columns a samplesheet needs."""
        after = 0
        while True:
            rows = (
                await self.session.execute(
                    select(
                        OrderSample.position,
                        OrderSample.role,
                        Sample.display_id,
                        Sample.sample_type,
                        Sample.barcode,
                        Sample.properties,
                        Sample.files,
                        Subject.display_id,
                        Subject.sex,
                        Subject.properties,
                    )
                    .join(Sample, Sample.id == OrderSample.sample_id)
                    .outerjoin(Subject, Subject.id == Sample.subject_id)
                    .where(OrderSample.order_id == order_id, OrderSample.position > after)
                    .order_by(OrderSample.position)
                    .limit(SHEET_BATCH)
                )
            ).all()
            if not rows:
                return
            after = rows[-1][0]
            yield [
                (
                    row[1],
                    SheetSample(row[2], row[3], row[4], row[5], row[6]),
                    SheetSubject(row[7], row[8], row[9]) if row[7] is not None else None,
                )
                for row in rows
            ]

    # -- history -------------------------------------------------------------------------------

    async def add_transition(self, transition: OrderTransition) -> None:
        self.session.add(transition)
        await self.session.flush()

    async def transitions(
        self, order_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[OrderTransition], int]:
        statement = (
            select(OrderTransition)
            .where(OrderTransition.order_id == order_id)
            .order_by(OrderTransition.occurred_at, OrderTransition.id)
        )
        count = int(
            await self.session.scalar(
                select(func.count())
                .select_from(OrderTransition)
                .where(OrderTransition.order_id == order_id)
            )
            or 0
        )
        rows = (await self.session.scalars(statement.limit(limit).offset(offset))).all()
        return rows, count
