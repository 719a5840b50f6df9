"""Group commit for weblog events: one writer per process takes the events of many concurrent
requests into one transaction.

A request hands its event to the writer and waits. The writer takes whatever has queued up (at
most ``max_batch`` events), writes it in one transaction (every task row of the batch in one
multi-row upsert, each run touched once, the workflow values of started/completed events in
their order), commits, and only then answers each waiting request. While one batch is written
the next one gathers: the busier the weblog, the bigger the batches, the fewer the commits.

A failed batch fails exactly the requests whose events were in it, with a 503 that says so
(nothing of the batch was committed; Nextflow's weblog does not retry, the trace file read at
the end of the run restores the tasks). A full queue answers 503 with Retry-After at once
rather than holding ever more events in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nfhub_compute.events.parsing import Event, completed_values, started_values, task_values
from nfhub_compute.events.repository import EventsConnection, RunEventRepository
from nfhub_shared.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 1


@dataclass(slots=True)
class Pending:
    """One request's event, and the future its request awaits."""

    run_id: uuid.UUID
    event: Event
    done: asyncio.Future[None] = field(repr=False)


class EventQueueFull(ServiceUnavailable):
    title = "Event queue full"


class EventBatchFailed(ServiceUnavailable):
    title = "Event batch not stored"


def queue_full() -> ServiceUnavailable:
    return EventQueueFull(
        "compute is taking in more events than the database keeps up with; nothing was "
        f"stored, post again in {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def batch_failed(size: int) -> ServiceUnavailable:
    return EventBatchFailed(
        f"The transaction holding this event and {size - 1} other(s) failed and was rolled "
        f"back; nothing of it was stored. Post again in {RETRY_AFTER_SECONDS} s.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@dataclass(slots=True)
class Batch:
    """What one transaction writes: the task rows per run (in arrival order), the runs'
    workflow values in event order, and the runs whose launchers finished."""

    rows: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)
    values: list[tuple[uuid.UUID, dict[str, Any]]] = field(default_factory=list)
    completed: list[uuid.UUID] = field(default_factory=list)

    @classmethod
    def of(cls, pending: list[Pending]) -> Batch:
        batch = cls()
        for item in pending:
            run_id, event = item.run_id, item.event
            runs_rows = batch.rows.setdefault(run_id, [])
            if event.trace is not None and (row := task_values(event.trace)) is not None:
                runs_rows.append(row)
            if event.kind == "started":
                batch.values.append((run_id, started_values(event.workflow, event.params)))
            elif event.kind == "completed":
                batch.values.append((run_id, completed_values(event.workflow)))
                batch.completed.append(run_id)
        return batch

    async def write(self, events: RunEventRepository, now: datetime) -> None:
        if not self.values:  # plain task events (nearly all): one statement
            await events.batch(list(self.rows.items()), now)
            return
        await events.transaction()
        # Sorted by run: two processes' batches lock the same rows in the same order.
        run_ids = sorted(self.rows)
        await events.tasks_of_runs([(run_id, self.rows[run_id]) for run_id in run_ids])
        values_of: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for run_id, values in self.values:  # each run's values in event order
            values_of.setdefault(run_id, []).append(values)
        for run_id in sorted(self.rows.keys() | values_of.keys()):  # rows locked in one order
            for values in values_of.get(run_id) or [{}]:
                await events.seen(run_id, now, values)
        for run_id in dict.fromkeys(self.completed):
            # The launcher exits next: have the reconciler look soon, not at its next pass.
            await events.notify(f"completed:{run_id}")


class EventWriter:
    """The process's one writer of weblog events (started and stopped by compute's lifespan)."""

    def __init__(
        self,
        connect: Callable[[], AbstractAsyncContextManager[EventsConnection]],
        *,
        max_batch: int = 1000,
        max_queue: int = 20_000,
        in_flight: int = 2,
    ) -> None:
        self.connect = connect
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.in_flight = in_flight
        self.queue: deque[Pending] = deque()
        self.wakeup = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.batches = 0  # written (committed or failed): for tests and logs

    def start(self) -> None:
        """``in_flight`` loops take batches off the one queue: while one batch commits, the
        next is written on another connection (batches of one run lock its task rows in
        (run, task) order and its run row last, so they wait for each other, never deadlock)."""
        if not self.tasks:
            self.stopping = False
            self.tasks = [
                asyncio.create_task(self._run(), name=f"weblog-event-writer-{number}")
                for number in range(self.in_flight)
            ]

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Write what is queued and let the batches in flight finish (each request gets its
        true answer), then stop; past ``grace_seconds`` the loops are cancelled."""
        tasks, self.tasks = self.tasks, []
        self.stopping = True
        self.wakeup.set()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        while self.queue:
            await self._write(self._take())

    async def store(self, run_id: uuid.UUID, event: Event) -> None:
        """Return once the event is committed; raise the batch's 503 when it was not."""
        if len(self.queue) >= self.max_queue:
            raise queue_full()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append(Pending(run_id, event, done))
        self.wakeup.set()
        if not self.tasks:  # not started (a test's app without lifespan): write inline
            await self._write(self._take())
        await done

    def _take(self) -> list[Pending]:
        count = min(len(self.queue), self.max_batch)
        return [self.queue.popleft() for _ in range(count)]

    async def _run(self) -> None:
        while True:
            await self.wakeup.wait()
            if not self.stopping:
                self.wakeup.clear()
            while self.queue:
                await self._write(self._take())
            if self.stopping:
                return

    async def _write(self, pending: list[Pending]) -> None:
        if not pending:
            return
        self.batches += 1
        try:
            batch = Batch.of(pending)
            async with self.connect() as connection:
                await batch.write(RunEventRepository(connection), datetime.now(UTC))
                await connection.commit()
        except asyncio.CancelledError:
            # Cancelled past stop()'s timeout: whether the statement committed is unknown.
            for item in pending:
                if not item.done.done():
                    item.done.set_exception(batch_failed(len(pending)))
            raise
        except Exception:
            logger.exception("weblog event batch failed", extra={"events": len(pending)})
            for item in pending:
                if not item.done.done():
                    item.done.set_exception(batch_failed(len(pending)))
            return
        for item in pending:
            if not item.done.done():
                item.done.set_result(None)
