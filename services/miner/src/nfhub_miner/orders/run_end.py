"""What the end of an order's run does to the order.

A run that completes moves its order from ``analyzing`` to ``review``: the one move miner makes
itself (actor ``system``), through the status machine, with its history row and audit event.
A run that fails or is canceled leaves the order ``analyzing`` with the failure recorded (state,
reason, when) and shown as the order's ``run``: the machine is forward only, and what to do
about a failed analysis (look at it in review, cancel the order) is a person's decision.

Applying an end twice changes nothing (an order records one end), and an order a user already
moved keeps its status: only the end is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from nfhub_miner.compute_client import RunState
from nfhub_miner.models import Order, OrderTransition
from nfhub_miner.orders.repository import OrderRepository
from nfhub_miner.orders.states import MOVES, OrderStatus
from nfhub_shared.audit import AuditWriter
from nfhub_shared.db.session import AsyncSession

logger = structlog.get_logger("nfhub.miner.orders")

SYSTEM_ACTOR = "system"
SUCCESS = "COMPLETE"


class RunEnds:
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        self.session = session
        self.audit = audit
        self.orders = OrderRepository(session)

    async def apply(self, runs: Sequence[RunState]) -> list[Order]:
        """Record each final run's end on its order; the orders that changed."""
        ended = {run.id: run for run in runs if run.final}
        changed = []
        for order in await self.orders.with_runs(list(ended)):
            run = ended[order.run_id] if order.run_id is not None else None
            if run is None or order.run_end_state is not None:
                continue  # already recorded: a second notification, or the sweep after it
            if run.project_id != order.project_id:
                logger.warning("run of another project", order_id=str(order.id))
                continue
            await self._end(order, run)
            changed.append(order)
        return changed

    async def _end(self, order: Order, run: RunState) -> None:
        now = datetime.now(UTC)
        current = OrderStatus(order.status)
        values: dict[str, Any] = {
            "run_end_state": run.state,
            "run_end_reason": run.state_reason,
            "run_ended_at": run.finished_at or now,
        }
        moves = current == OrderStatus.analyzing and run.state == SUCCESS
        if moves:
            assert OrderStatus.review in MOVES[current]
            values.update(status=OrderStatus.review.value, status_changed_at=now)
        await self.orders.update(order, values)
        details = {"run_id": str(run.id), "state": run.state, "reason": run.state_reason}
        await self._record("order.run_end", order, details)
        if moves:
            await self.orders.add_transition(
                OrderTransition(
                    order_id=order.id,
                    from_status=current.value,
                    to_status=OrderStatus.review.value,
                    actor_id=SYSTEM_ACTOR,
                    note=f"Run {run.id} completed.",
                    run_id=run.id,
                    occurred_at=now,
                )
            )
            moved = {"from": current.value, "to": OrderStatus.review.value}
            await self._record("order.transition", order, moved)
        logger.info(
            "order run ended",
            order_id=str(order.id),
            run_id=str(run.id),
            state=run.state,
            status=order.status,
        )

    async def _record(self, action: str, order: Order, details: dict[str, Any]) -> None:
        await self.audit.record(
            self.session,
            actor=None,
            action=action,
            resource_type="order",
            resource_id=order.id,
            project_id=order.project_id,
            details=details,
        )
