"""miner follows the runs of its orders, with no client call.

compute announces each run that reaches a final state on the PostgreSQL channel ``nfhub_runs``
(``{"run_id", "project_id", "state"}``, at the commit of the move). A notification is only a
wake-up: miner asks compute for the runs it heard of (their reason and end time too, in one
call per batch) and applies their ends (`RunEnds`). Notifications are lost while miner is down
or its connection is: a sweep, at start, on every reconnect and every ``RUN_SWEEP_SECONDS``,
asks compute about every analyzing order whose run has not ended yet, 500 runs a call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.compute_client import RUN_STATES_BATCH, ComputeClient
from nfhub_miner.orders.repository import OrderRepository
from nfhub_miner.orders.run_end import RunEnds
from nfhub_shared.audit import AuditWriter
from nfhub_shared.db.listen import ChannelListener
from nfhub_shared.errors import AppError

logger = structlog.get_logger("nfhub.miner.follower")

CHANNEL = "nfhub_runs"


class RunFollower:
    """``sessions`` is called for the sessionmaker each time (tests swap the app's)."""

    def __init__(
        self,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        audit: AuditWriter,
        compute: ComputeClient,
    ) -> None:
        self.sessions = sessions
        self.audit = audit
        self.compute = compute

    async def settle(self, run_ids: list[uuid.UUID]) -> int:
        """Apply the ends of these runs (heard of) to their orders; the orders changed. Runs
        of no order, and ends already recorded, cost no call to compute."""
        async with self.sessions()() as session:
            followed = await OrderRepository(session).unended(run_ids)
        return await self._apply(followed) if followed else 0

    async def _apply(self, run_ids: list[uuid.UUID]) -> int:
        """Ask compute how these runs stand and apply the ends."""
        runs = [run for run in await self.compute.run_states(run_ids) if run.final]
        if not runs:
            return 0
        async with self.sessions()() as session, session.begin():
            return len(await RunEnds(session, self.audit).apply(runs))

    async def sweep(self) -> int:
        """Every analyzing order whose run has not ended yet, asked about in batches."""
        changed = 0
        after: uuid.UUID | None = None
        while True:
            async with self.sessions()() as session:
                batch = await OrderRepository(session).runs_to_follow(
                    after=after, limit=RUN_STATES_BATCH
                )
            if not batch:
                return changed
            changed += await self._apply(batch)
            after = batch[-1]


class RunFollowerTask:
    """The listener, a queue of the runs heard of, and the periodic sweep, in one task."""

    def __init__(self, follower: RunFollower, database_url: str, sweep_seconds: float) -> None:
        self.follower = follower
        self.sweep_seconds = sweep_seconds
        self.queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
        self.sweep_due = asyncio.Event()
        self.listener = ChannelListener(
            database_url, CHANNEL, self._heard, on_listening=self.sweep_due.set
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.sweep_due.set()  # once at start: what ended while miner was down
        self.listener.start()
        self._task = asyncio.create_task(self._run(), name="nfhub-miner-run-follower")

    async def stop(self) -> None:
        await self.listener.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _heard(self, payload: str) -> None:
        try:
            run_id = uuid.UUID(str(json.loads(payload)["run_id"]))
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable run notification", payload=payload[:200])
            return
        self.queue.put_nowait(run_id)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        while True:
            if self.sweep_due.is_set() or loop.time() >= next_sweep:
                self.sweep_due.clear()
                next_sweep = loop.time() + self.sweep_seconds
                await self._guarded(self.follower.sweep())
            heard = await self._next(max(0.0, next_sweep - loop.time()))
            if heard:
                await self._guarded(self.follower.settle(heard))

    async def _next(self, wait_seconds: float) -> list[uuid.UUID]:
        """The runs heard of (waiting up to ``wait_seconds`` for the first), at most a batch."""
        waiting = asyncio.ensure_future(self.queue.get())
        sweep = asyncio.ensure_future(self.sweep_due.wait())
        try:
            await asyncio.wait(
                {waiting, sweep}, timeout=wait_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            sweep.cancel()
            if not waiting.done():
                waiting.cancel()
        if waiting.cancelled() or not waiting.done():
            return []
        heard = [waiting.result()]
        while len(heard) < RUN_STATES_BATCH and not self.queue.empty():
            heard.append(self.queue.get_nowait())
        return heard

    async def _guarded(self, work: Awaitable[int]) -> None:
        """A failed round (compute down, the database restarting) is logged; the next sweep
        makes up for it."""
        try:
            changed = await work
        except AppError as exc:
            logger.warning("run follower: compute unavailable", error=exc.detail)
        except Exception:
            logger.exception("run follower round failed")
        else:
            if changed:
                logger.info("orders moved by their runs", orders=changed)
