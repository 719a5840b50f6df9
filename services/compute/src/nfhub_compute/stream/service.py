"""Live event streams: one LISTEN connection per API process, fanned out in memory.

The hub reads the run event feed (``run_events``) once per wake-up for every subscriber of the
process, and hands each the events it wants through a bounded queue; it never waits on a
client. A subscriber behind (resuming from a Last-Event-ID, or overflowing its queue because
it reads slowly) reads the feed itself, one short query at a time, holding no connection while
its client takes the events, until it reaches the hub; from then on the hub feeds it again.
Positions are (xid, id) pairs and every read stops below the oldest running transaction
(stream.repository), so no event is skipped or repeated whichever path delivers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from nfhub_compute.runs.errors import RunNotFound
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import TERMINAL_STATES
from nfhub_compute.stream.errors import UnknownEventId
from nfhub_compute.stream.repository import CHANNEL, RunEventRepository
from nfhub_compute.stream.schemas import PROJECT_KINDS, Cursor, EventKind, FeedEvent, Snapshot
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.listen import ChannelListener
from nfhub_shared.db.session import AsyncSession

logger = structlog.get_logger("nfhub.compute.stream")

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
BATCH = 500
# While committed events wait behind an older transaction, the hub reads again after this
# long, doubling up to the maximum (no NOTIFY comes when that transaction ends).
HELD_BACK_FIRST_SECONDS = 0.002
HELD_BACK_MAX_SECONDS = 0.25
# SSE's reconnection delay for EventSource clients (ms).
RETRY_MS = 2000
MAX_EVENT_ID_DIGITS = 19
FINAL_STATES = frozenset(state.value for state in TERMINAL_STATES)


@dataclass(eq=False)
class Subscription:
    project_id: uuid.UUID
    run_id: uuid.UUID | None
    kinds: tuple[str, ...]
    states: tuple[str, ...]
    # The last event handed to the client (or, after a complete read, the read's horizon).
    cursor: Cursor
    # The last event handed over or queued: the hub queues only what lies beyond it.
    tail: Cursor
    live: bool = False
    queue: deque[FeedEvent] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    overflows: int = 0
    # A run's stream: the run's final state once known, the id of the last event of the feed
    # handed over, and when (time.monotonic) the stream ends.
    final_state: str | None = None
    last_id: int | None = None
    end_at: float | None = None
    # An ended run opened without Last-Event-ID: its current state, sent first.
    opening: bytes = b""
    # Opened without Last-Event-ID: what had committed then, which it never sends.
    started: Snapshot | None = None

    def wants(self, event: FeedEvent) -> bool:
        if self.started is not None and self.started.committed(event.xid):
            return False
        if self.run_id is not None and event.run_id != self.run_id:
            return False
        if self.kinds and event.kind not in self.kinds:
            return False
        return not self.states or event.state in self.states


class StreamHub:
    """The process's one listener and its subscribers (started at the first subscription)."""

    def __init__(self, sessions: Sessions, database_url: str, *, buffer_events: int) -> None:
        self.sessions = sessions
        self.database_url = database_url
        self.buffer_events = buffer_events
        self.position = Cursor(0, 0)
        self.by_run: dict[uuid.UUID, set[Subscription]] = {}
        self.by_project: dict[uuid.UUID, set[Subscription]] = {}
        self._wake = asyncio.Event()
        self._listener: ChannelListener | None = None
        self._reader: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self.reads = 0

    async def start(self, feed: RunEventRepository) -> None:
        """Start with the first subscriber, reading the horizon on its request's connection:
        the others wait here holding theirs, so asking the pool for one more could wait on
        them all (20 subscribers at once would exhaust a pool of 20)."""
        async with self._start_lock:
            if self._reader is not None:
                return
            self.position = await feed.horizon()
            self._listener = ChannelListener(
                self.database_url,
                CHANNEL,
                lambda _payload: self._wake.set(),
                # Back after a lost connection: read what committed meanwhile.
                on_listening=self._wake.set,
            )
            self._listener.start()
            self._reader = asyncio.create_task(self._read_loop(), name="nfhub-stream-hub")

    async def stop(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def listening(self) -> None:
        if self._listener is not None:
            await self._listener.listening.wait()

    def add(self, subscription: Subscription) -> None:
        index = self.by_run if subscription.run_id is not None else self.by_project
        key = subscription.run_id if subscription.run_id is not None else subscription.project_id
        index.setdefault(key, set()).add(subscription)

    def remove(self, subscription: Subscription) -> None:
        index = self.by_run if subscription.run_id is not None else self.by_project
        key = subscription.run_id if subscription.run_id is not None else subscription.project_id
        subscribers = index.get(key)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del index[key]

    async def _read_loop(self) -> None:
        delay: float | None = None
        while True:
            if delay is None:
                await self._wake.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            try:
                async with self.sessions() as session:
                    feed = RunEventRepository(session)
                    if not self.by_run and not self.by_project:
                        # Nobody follows anything here: move on without reading the rows.
                        self.position = max(self.position, await feed.horizon())
                        delay = None
                        continue
                    events, seen, held_back = await feed.read(self.position, limit=BATCH)
                    full = len(events) == BATCH
                    changed = {
                        event.run_id: event
                        for event in events
                        if event.kind == EventKind.task and self._followed(event)
                    }
                    if changed:
                        # The counters go out with the task events, in the same write to
                        # each subscriber: one send per subscriber per delivery.
                        events = await with_progress(session, events, changed)
                self.reads += 1
            except Exception:  # the database is away: the listener reconnects and wakes us
                logger.exception("stream hub cannot read the run event feed")
                delay = 1.0
                continue
            self._fan_out(events)
            self.position = max(self.position, seen)
            if full:
                self._wake.set()
                delay = None
            elif held_back:
                delay = (
                    HELD_BACK_FIRST_SECONDS
                    if delay is None
                    else min(delay * 2, HELD_BACK_MAX_SECONDS)
                )
            else:
                delay = None

    def _followed(self, event: FeedEvent) -> bool:
        return event.run_id in self.by_run or event.project_id in self.by_project

    def _fan_out(self, events: list[FeedEvent]) -> None:
        for event in events:
            for index, key in ((self.by_run, event.run_id), (self.by_project, event.project_id)):
                for subscription in index.get(key, ()):
                    if not subscription.live or not subscription.wants(event):
                        continue
                    if event.kind == EventKind.progress:
                        # Counters (as of now) at their run's last task event's position,
                        # after it; they move no position (a second copy is harmless).
                        subscription.queue.append(event)
                        subscription.wake.set()
                        continue
                    if event.cursor <= subscription.tail:
                        continue
                    if len(subscription.queue) >= self.buffer_events:
                        # Too slow: it catches up from the database, by its own position.
                        subscription.live = False
                        subscription.queue.clear()
                        subscription.tail = subscription.cursor
                        subscription.overflows += 1
                    else:
                        subscription.queue.append(event)
                        subscription.tail = event.cursor
                    subscription.wake.set()


class StreamService:
    def __init__(
        self,
        session: AsyncSession,
        access: ProjectAccess,
        hub: StreamHub,
        *,
        heartbeat: float,
        end_grace: float = 2.0,
    ) -> None:
        self.session = session
        self.access = access
        self.hub = hub
        self.heartbeat = heartbeat
        self.end_grace = end_grace
        self.feed = RunEventRepository(session)

    async def open(
        self,
        *,
        run_id: uuid.UUID | None,
        last_event_id: str | None,
        states: Collection[str] = (),
    ) -> Subscription:
        """Check the caller may follow this (a run of the project: 404 otherwise) and where it
        starts: after its Last-Event-ID (0: from the beginning of what is kept), else now.

        A run's stream ends after the run's final state (``events``). The start is read
        before the run: a final state the run is not in yet has its event beyond the start,
        so the stream sees it whichever moment the run ends."""
        started: Snapshot | None = None
        if last_event_id is None:
            started = await self.feed.snapshot()
            start = started.start
        else:
            start = await self._start(last_event_id)
        run = None
        if run_id is not None:
            run = await RunRepository(self.session).get_in_project(self.access.project_id, run_id)
            if run is None:
                raise RunNotFound(f"No run {run_id} in this project.")
        await self.hub.start(self.feed)
        kinds = () if run_id is not None else PROJECT_KINDS
        subscription = Subscription(
            self.access.project_id, run_id, kinds, tuple(states), cursor=start, tail=start,
            started=started,
        )  # fmt: skip
        if run is not None and run.state in FINAL_STATES:
            # Ended already: the grace for late log lines runs from its end, not from now.
            ended_at = run.finished_at or run.updated_at
            left = self.end_grace - (datetime.now(UTC) - ended_at).total_seconds()
            subscription.final_state = run.state
            subscription.end_at = time.monotonic() + min(max(left, 0.0), self.end_grace)
            subscription.last_id = await self.feed.last_id_of_run(run.id)
            if last_event_id is None:
                body = {
                    "run_id": str(run.id),
                    "run_state": run.state,
                    "at": ended_at.isoformat(),
                    "state": run.state,
                    "reason": run.state_reason,
                    "exit_code": run.exit_code,
                }
                subscription.opening = sse_bytes(subscription.last_id, "run", body)
        return subscription

    async def _start(self, last_event_id: str) -> Cursor:
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit() or len(text) > MAX_EVENT_ID_DIGITS:
            raise UnknownEventId(
                "Last-Event-ID must be the id of an event this stream sent (digits), or 0 for "
                "the whole history kept; leave it out to start from now."
            )
        event_id = int(text)
        if event_id == 0:
            return Cursor(0, 0)
        position = await self.feed.position_of(event_id, self.access.project_id)
        if position is None:
            raise UnknownEventId(
                f"Event {event_id} is not an event of this project, or is older than the "
                "feed keeps (COMPUTE_STREAM_RETENTION_HOURS): reconnect without Last-Event-ID "
                "and read the run's current state from GET /runs/{id}."
            )
        return position

    async def events(self, subscription: Subscription) -> AsyncIterator[bytes]:
        """The stream's bytes: events, and a comment line when there has been nothing to say
        for a heartbeat's time."""
        hub = self.hub
        hub.add(subscription)
        if subscription.cursor >= hub.position:  # starts now: nothing to read back first
            subscription.live = True
        try:
            yield f"retry: {RETRY_MS}\n\n".encode() + subscription.opening
            while True:
                if not subscription.live:
                    async for chunk in self._catch_up(subscription):
                        yield chunk
                    continue
                if subscription.queue:
                    # All that waits, in one write: one send per wake-up, not per event.
                    events = list(subscription.queue)
                    subscription.queue.clear()
                    subscription.cursor = events[-1].cursor
                    self._handed_over(subscription, events)
                    yield b"".join(event.sse for event in events)
                    continue
                wait = self.heartbeat
                if subscription.end_at is not None:
                    wait = min(wait, subscription.end_at - time.monotonic())
                    if wait <= 0:
                        async for chunk in self._end(subscription):
                            yield chunk
                        return
                subscription.wake.clear()
                try:
                    await asyncio.wait_for(subscription.wake.wait(), wait)
                except TimeoutError:
                    if wait == self.heartbeat:
                        yield b": keep-alive\n\n"
        finally:
            hub.remove(subscription)

    def _handed_over(self, subscription: Subscription, events: list[FeedEvent]) -> None:
        """Note, on a run's stream, the last event given and the run's final state: the
        stream ends ``end_grace`` seconds after it (log lines shipped just after it come)."""
        if subscription.run_id is None:
            return
        for event in events:
            if event.kind == EventKind.progress:
                continue
            subscription.last_id = event.id
            if event.kind == EventKind.run and event.state in FINAL_STATES:
                if subscription.end_at is None:
                    subscription.end_at = time.monotonic() + self.end_grace
                subscription.final_state = event.state

    async def _end(self, subscription: Subscription) -> AsyncIterator[bytes]:
        """The run's last events (what committed in the grace but has not come through the
        hub yet: read from the database), then ``end``, after which the response closes."""
        self.hub.remove(subscription)
        subscription.live = False
        delay = HELD_BACK_FIRST_SECONDS
        while True:
            events, complete, held_back = await self._read(subscription)
            if events:
                yield b"".join(event.sse for event in events)
            if held_back:
                # A transaction older than the run's last events is still open (anywhere on
                # the server: xids are cluster-wide). Ending now would skip them for good, as
                # `end` carries the run's last event id: wait until they are readable.
                await asyncio.sleep(delay)
                delay = min(delay * 2, HELD_BACK_MAX_SECONDS)
                continue
            if complete:
                break
        body = {"run_id": str(subscription.run_id), "run_state": subscription.final_state}
        # Its id is the run's last event's: resuming from it replays nothing and ends again.
        yield sse_bytes(subscription.last_id or 0, "end", body)

    async def _read(self, subscription: Subscription) -> tuple[list[FeedEvent], bool, bool]:
        """One batch of the subscription's events after its position, from the database; the
        events it wants, whether the batch reached the end of what is readable, and whether
        events past it are held back (an older transaction is still open)."""
        async with self.hub.sessions() as session:
            # Task events too on a project's stream: they say whose counters changed.
            events, seen, held_back = await RunEventRepository(session).read(
                subscription.cursor,
                limit=BATCH,
                run_id=subscription.run_id,
                project_id=subscription.project_id,
                states=subscription.states,
            )
            complete = len(events) < BATCH
            changed = {event.run_id: event for event in events if event.kind == EventKind.task}
            if changed:
                events = await with_progress(session, events, changed)
        wanted = [event for event in events if subscription.wants(event)]
        subscription.cursor = max([subscription.cursor, seen, *(e.cursor for e in events)])
        self._handed_over(subscription, wanted)
        return wanted, complete, held_back

    async def _catch_up(self, subscription: Subscription) -> AsyncIterator[bytes]:
        """One batch from the database (the connection goes back before the client is
        written to); live again once level with the hub."""
        events, complete, _held_back = await self._read(subscription)
        if events:
            yield b"".join(event.sse for event in events)
        # Checked and switched with no await in between: the hub moves only while we wait.
        if subscription.cursor >= self.hub.position:
            subscription.tail = subscription.cursor
            subscription.live = True
        elif complete and not events:
            await asyncio.sleep(HELD_BACK_FIRST_SECONDS)


async def with_progress(
    session: AsyncSession, events: list[FeedEvent], changed: dict[uuid.UUID, FeedEvent]
) -> list[FeedEvent]:
    """``events`` with each changed run's task counters (now) right after its last task event,
    at that event's position: one grouped query for all of them."""
    counts: dict[uuid.UUID, dict[str, int]] = {run_id: {} for run_id in changed}
    for run_id, status, count in await TaskRepository(session).counts_of_runs(list(changed)):
        counts[run_id][status] = count
    now = datetime.now(UTC)
    merged: list[FeedEvent] = []
    for event in events:
        merged.append(event)
        if changed.get(event.run_id) is event:
            merged.append(
                FeedEvent(
                    id=event.id,
                    xid=event.xid,
                    run_id=event.run_id,
                    project_id=event.project_id,
                    kind=EventKind.progress.value,
                    state=event.state,
                    data={"counts": counts[event.run_id]},
                    at=now,
                )
            )
    return merged


def sse_bytes(event_id: int | None, kind: str, body: Mapping[str, object]) -> bytes:
    """An event the feed has no row for (the stream's opening state, its end)."""
    data = json.dumps(body, separators=(",", ":"), default=str)
    head = "" if event_id is None else f"id: {event_id}\n"
    return f"{head}event: {kind}\ndata: {data}\n\n".encode()
