"""Every SQL statement of webhooks, over a service's own three tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_shared.webhooks.models import (
    AttemptColumns,
    DeliveryColumns,
    DeliveryState,
    WebhookColumns,
)

W = TypeVar("W", bound=WebhookColumns)
D = TypeVar("D", bound=DeliveryColumns)
A = TypeVar("A", bound=AttemptColumns)


T = TypeVar("T")


def build(model: type[T], **values: Any) -> T:
    """A row of a mapped class known here only by its columns' mixin."""
    record = model()
    for key, value in values.items():
        setattr(record, key, value)
    return record


class WebhookRepository(Generic[W, D, A]):
    def __init__(
        self,
        session: AsyncSession,
        webhook: type[W],
        delivery: type[D],
        attempt: type[A],
        channel: str,
    ) -> None:
        self.session = session
        self.webhook = webhook
        self.delivery = delivery
        self.attempt = attempt
        self.channel = channel

    # -- webhooks ----------------------------------------------------------------------------

    async def get_in_project(self, project_id: uuid.UUID, webhook_id: uuid.UUID) -> W | None:
        return await self.session.scalar(
            select(self.webhook).where(
                self.webhook.id == webhook_id, self.webhook.project_id == project_id
            )
        )

    async def list_in_project(
        self, project_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[W], int]:
        where = self.webhook.project_id == project_id
        total = await self.session.scalar(select(func.count()).where(where))
        rows = await self.session.scalars(
            select(self.webhook)
            .where(where)
            .order_by(self.webhook.created_at, self.webhook.id)
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)

    async def add(self, record: W) -> W:
        self.session.add(record)
        await self.session.flush()
        return record

    async def save(self, record: W, values: dict[str, Any]) -> W:
        for key, value in values.items():
            setattr(record, key, value)
        await self.session.flush()
        return record

    async def delete(self, record: W) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def all_for_update(self, *, batch: int, after: uuid.UUID | None) -> Sequence[W]:
        """A batch of every webhook (by id, locked): a key rotation walks them all."""
        statement = select(self.webhook).order_by(self.webhook.id).limit(batch)
        if after is not None:
            statement = statement.where(self.webhook.id > after)
        return (await self.session.scalars(statement.with_for_update())).all()

    # -- the outbox --------------------------------------------------------------------------

    async def enqueue(
        self, webhook: W, event_type: str, payload: dict[str, Any], now: datetime
    ) -> D:
        """One delivery, due now; the delivery loop hears of it at commit."""
        record = build(
            self.delivery,
            id=uuid.uuid4(),
            webhook_id=webhook.id,
            project_id=webhook.project_id,
            event_type=event_type,
            payload=payload,
            state=DeliveryState.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        self.session.add(record)
        await self.session.flush()
        await self.session.execute(select(func.pg_notify(self.channel, "")))
        return record

    async def deliveries(
        self, webhook_id: uuid.UUID, *, state: str | None, limit: int, offset: int
    ) -> tuple[Sequence[D], int]:
        where = [self.delivery.webhook_id == webhook_id]
        if state is not None:
            where.append(self.delivery.state == state)
        total = await self.session.scalar(select(func.count()).where(*where))
        rows = await self.session.scalars(
            select(self.delivery)
            .where(*where)
            .order_by(self.delivery.created_at.desc(), self.delivery.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return rows.all(), int(total or 0)

    async def attempts_of(self, delivery_ids: Sequence[uuid.UUID]) -> Sequence[A]:
        if not delivery_ids:
            return []
        rows = await self.session.scalars(
            select(self.attempt)
            .where(self.attempt.delivery_id.in_(list(delivery_ids)))
            .order_by(self.attempt.delivery_id, self.attempt.number)
        )
        return rows.all()

    async def claim_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[tuple[D, W]]:
        """Deliveries due by ``now`` of enabled webhooks, leased until ``lease_until``: other
        workers skip them meanwhile (SKIP LOCKED while this transaction runs, the lease
        after), and take them again if this worker dies before recording the attempt."""
        due = (
            select(self.delivery.id)
            .join(self.webhook, self.webhook.id == self.delivery.webhook_id)
            .where(
                self.delivery.state == DeliveryState.PENDING.value,
                self.delivery.next_attempt_at <= now,
                self.webhook.enabled.is_(True),
            )
            .order_by(self.delivery.next_attempt_at, self.delivery.created_at)
            .limit(limit)
            .with_for_update(of=self.delivery, skip_locked=True)
        )
        claimed = (
            await self.session.scalars(
                update(self.delivery)
                .where(self.delivery.id.in_(due.scalar_subquery()))
                .values(next_attempt_at=lease_until)
                .returning(self.delivery)
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not claimed:
            return []
        hooks = await self.session.scalars(
            select(self.webhook).where(self.webhook.id.in_({row.webhook_id for row in claimed}))
        )
        by_id = {hook.id: hook for hook in hooks}
        return [(row, by_id[row.webhook_id]) for row in claimed if row.webhook_id in by_id]

    async def lock_pending(self, delivery_id: uuid.UUID) -> D | None:
        """The delivery, locked, if it is still pending (not gone, not settled by another)."""
        return await self.session.scalar(
            select(self.delivery)
            .where(
                self.delivery.id == delivery_id,
                self.delivery.state == DeliveryState.PENDING.value,
            )
            .with_for_update()
        )

    async def record_attempt(
        self,
        delivery: D,
        attempt: A,
        *,
        state: DeliveryState,
        next_attempt_at: datetime | None,
        now: datetime,
    ) -> None:
        """Count the attempt on its (locked) delivery and keep the attempt's row."""
        delivery.attempts += 1
        delivery.state = state.value
        delivery.next_attempt_at = next_attempt_at
        delivery.last_attempt_at = attempt.started_at
        delivery.updated_at = now
        if state is not DeliveryState.PENDING:
            delivery.finished_at = now
        attempt.delivery_id = delivery.id
        attempt.number = delivery.attempts
        self.session.add(attempt)
        await self.session.flush()

    async def next_due(self) -> datetime | None:
        """When the earliest pending delivery of an enabled webhook is due."""
        return await self.session.scalar(
            select(func.min(self.delivery.next_attempt_at))
            .join(self.webhook, self.webhook.id == self.delivery.webhook_id)
            .where(
                self.delivery.state == DeliveryState.PENDING.value,
                self.webhook.enabled.is_(True),
            )
        )
