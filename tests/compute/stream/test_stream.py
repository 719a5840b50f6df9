"""GET /runs/{id}/stream and GET /runs/stream: Server-Sent Events fed by the run event feed.

Over real HTTP (uvicorn: httpx's ASGITransport buffers a whole response, so it cannot carry an
endless stream), on a committed database (see conftest).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from nfhub_compute.logs.repository import RunLogRepository
from nfhub_compute.models import Run, RunEvent
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState
from nfhub_compute.tasks.repository import TaskRepository
from support.sse import Comment, Event, read_sse

from .conftest import StreamStack

pytestmark = pytest.mark.xdist_group("compute-stream")
TIMEOUT = 15.0
# STREAM_BUFFER_EVENTS of the stream stack (conftest.py).
BUFFER_EVENTS = 10
STATUS_RANK = {"SUBMITTED": 1, "RUNNING": 2, "COMPLETED": 3}


async def move(stack: StreamStack, run_id: uuid.UUID, target: RunState) -> None:
    async with stack.sessions() as session, session.begin():
        assert await RunRepository(session).move(run_id, target, {}, datetime.now(UTC))


def task_row(task_id: int, status: str) -> dict[str, Any]:
    return {
        "task_id": task_id,
        "status": status,
        "status_rank": STATUS_RANK[status],
        "process": "HELLO",
        "name": f"HELLO ({task_id})",
        "trace": {},
    }


async def tasks(stack: StreamStack, run_id: uuid.UUID, status: str, *task_ids: int) -> None:
    async with stack.sessions() as session, session.begin():
        await TaskRepository(session).upsert(run_id, [task_row(t, status) for t in task_ids])


async def log(stack: StreamStack, run_id: uuid.UUID, seq: int, lines: list[str]) -> None:
    async with stack.sessions() as session, session.begin():
        await RunLogRepository(session).append(
            run_id, "nextflow", seq=seq, first_line=seq * 1000, lines=lines,
            byte_count=sum(len(line) + 1 for line in lines), truncated=False,
        )  # fmt: skip


async def a_run_from_start_to_end(stack: StreamStack, run_id: uuid.UUID) -> None:
    await move(stack, run_id, RunState.INITIALIZING)
    await move(stack, run_id, RunState.RUNNING)
    await tasks(stack, run_id, "SUBMITTED", 1, 2)
    await tasks(stack, run_id, "RUNNING", 1)
    await log(stack, run_id, 0, ["N E X T F L O W", "launching"])
    await tasks(stack, run_id, "COMPLETED", 1, 2)
    await move(stack, run_id, RunState.COMPLETE)


def is_end(event: Event) -> bool:
    return event.event == "run" and event.data["state"] in {"COMPLETE", "EXECUTOR_ERROR"}


@contextlib.asynccontextmanager
async def subscribe(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], **params: Any
) -> AsyncIterator[AsyncIterator[Event | Comment]]:
    async with client.stream("GET", path, headers=headers, params=params) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield read_sse(response)


async def collect(
    events: AsyncIterator[Event | Comment], until: Callable[[Event], bool]
) -> list[Event]:
    found: list[Event] = []

    async def run() -> None:
        async for item in events:
            if isinstance(item, Event):
                found.append(item)
                if until(item):
                    return

    await asyncio.wait_for(run(), TIMEOUT)
    return found


async def feed_of(stack: StreamStack, run_id: uuid.UUID) -> list[int]:
    """The run's events as the database has them, in feed order."""
    async with stack.sessions() as session:
        rows = await session.scalars(
            select(RunEvent.id).where(RunEvent.run_id == run_id).order_by(RunEvent.xid, RunEvent.id)
        )
        return list(rows)


def journaled(events: list[Event]) -> list[int]:
    """The ids of the events that are rows of the feed (counters are counted on delivery)."""
    return [int(e.id or 0) for e in events if e.event != "progress"]


async def hub_listening(stack: StreamStack) -> None:
    await asyncio.wait_for(stack.app.state.stream_hub.listening(), TIMEOUT)


class TestRunStream:
    async def test_concurrent_subscribers_get_the_same_ordered_events(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await stream_stack.new_run()
        path = f"/api/v1/runs/{run_id}/stream"
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(stream_stack.client())
            streams = [
                await stack.enter_async_context(subscribe(client, path, stream_stack.headers()))
                for _ in range(3)
            ]
            await hub_listening(stream_stack)
            readers = [asyncio.create_task(collect(s, is_end)) for s in streams]
            await a_run_from_start_to_end(stream_stack, run_id)
            received = await asyncio.gather(*readers)

        first = received[0]
        # Every event of the feed since they subscribed (after the run's creation), once, in
        # feed order, each with its id.
        feed = (await feed_of(stream_stack, run_id))[1:]
        assert all(journaled(events) == feed for events in received)
        assert all(e.id for events in received for e in events)
        run_states = [e.data["state"] for e in first if e.event == "run"]
        assert run_states == ["INITIALIZING", "RUNNING", "COMPLETE"]
        task_moves = [(e.data["task_id"], e.data["status"]) for e in first if e.event == "task"]
        assert task_moves == [(1, "SUBMITTED"), (2, "SUBMITTED"), (1, "RUNNING"),
                              (1, "COMPLETED"), (2, "COMPLETED")]  # fmt: skip
        # Counters after the task events of each delivery, at the position of the last one.
        progress = [e for e in first if e.event == "progress"]
        assert progress[-1].data["counts"] == {"COMPLETED": 2}
        assert progress[-1].data["run_state"] == "RUNNING"
        assert progress[-1].id == [e for e in first if e.event == "task"][-1].id
        logs = [e.data["lines"] for e in first if e.event == "log"]
        assert logs == [["N E X T F L O W", "launching"]]

    async def test_a_reconnect_with_last_event_id_gets_exactly_what_it_missed(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await stream_stack.new_run()
        path = f"/api/v1/runs/{run_id}/stream"
        async with stream_stack.client() as client:
            async with subscribe(client, path, stream_stack.headers()) as stream:
                await hub_listening(stream_stack)
                await move(stream_stack, run_id, RunState.INITIALIZING)
                await move(stream_stack, run_id, RunState.RUNNING)
                early = await collect(stream, lambda e: e.data.get("state") == "RUNNING")
            # Gone mid-run: these happen while nobody listens.
            await tasks(stream_stack, run_id, "SUBMITTED", 1, 2, 3)
            await move(stream_stack, run_id, RunState.COMPLETE)
            resumed_header = stream_stack.headers() | {"Last-Event-ID": early[-1].id or ""}
            async with subscribe(client, path, resumed_header) as stream:
                rest = await collect(stream, is_end)
            # The query parameter does the same, for clients that cannot set a header.
            async with subscribe(
                client, path, stream_stack.headers(), last_event_id=early[-1].id
            ) as stream:
                rest_by_query = await collect(stream, is_end)
            async with subscribe(client, path, stream_stack.headers(), last_event_id=0) as stream:
                everything = await collect(stream, is_end)

        feed = await feed_of(stream_stack, run_id)
        assert journaled(early + rest) == feed[1:]  # from the subscription on
        assert journaled(rest) == journaled(rest_by_query)
        assert journaled(everything) == feed  # 0: the whole history kept
        # Resumed mid-run, the counters come again after the tasks caught up.
        assert [e.data["counts"] for e in rest if e.event == "progress"] == [{"SUBMITTED": 3}]

    async def test_writers_committing_out_of_order_lose_no_event(
        self, stream_stack: StreamStack
    ) -> None:
        """The classic gap: an older transaction takes a later id and commits first; the
        younger one's smaller id commits after. "id > last" would skip it; (xid, id) does not."""
        run_id = await stream_stack.new_run(state="RUNNING")
        path = f"/api/v1/runs/{run_id}/stream"
        async with (
            stream_stack.client() as client,
            subscribe(client, path, stream_stack.headers()) as stream,
        ):
            await hub_listening(stream_stack)
            async with stream_stack.sessions() as older, stream_stack.sessions() as younger:
                await older.begin()
                await older.execute(text("SELECT pg_current_xact_id()"))  # older xid
                await younger.begin()
                await TaskRepository(younger).upsert(run_id, [task_row(1, "SUBMITTED")])
                await TaskRepository(older).upsert(run_id, [task_row(2, "SUBMITTED")])
                await older.commit()
                # The hub reads the older transaction's events meanwhile.
                first = await collect_n(stream, 2)
                await younger.commit()
            received = first + await collect_n(stream, 2)
        feed = await feed_of(stream_stack, run_id)
        assert journaled(received) == feed[1:]
        assert [e.event for e in received] == ["task", "progress", "task", "progress"]
        task_ids = [e.data["task_id"] for e in received if e.event == "task"]
        assert task_ids == [2, 1]  # the older transaction's event first: feed order

    async def test_many_concurrent_writers_each_event_once_in_feed_order(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await stream_stack.new_run(state="RUNNING")
        path = f"/api/v1/runs/{run_id}/stream"

        async def writer(first: int) -> None:
            for task_id in range(first, first + 10):
                await tasks(stream_stack, run_id, "SUBMITTED", task_id)

        async with (
            stream_stack.client() as client,
            subscribe(client, path, stream_stack.headers()) as stream,
        ):
            await hub_listening(stream_stack)
            await asyncio.gather(*(writer(100 * w) for w in range(1, 7)))
            seen_tasks: list[Event] = []

            def all_tasks(event: Event) -> bool:
                if event.event == "task":
                    seen_tasks.append(event)
                return len(seen_tasks) == 60

            received = await collect(stream, all_tasks)
        feed = await feed_of(stream_stack, run_id)
        assert journaled(received) == feed[1:]
        assert len({e.data["task_id"] for e in received if e.event == "task"}) == 60

    async def test_a_client_that_does_not_read_holds_back_neither_others_nor_the_pool(
        self, stream_stack: StreamStack
    ) -> None:
        """Its buffer (STREAM_BUFFER_EVENTS=10 here) overflows: it is dropped from the hub and,
        once it reads again, catches up from the database, with nothing missed."""
        run_id = await stream_stack.new_run(state="RUNNING")
        path = f"/api/v1/runs/{run_id}/stream"
        # 200 kB a log event, 8 MB in all: more than the sockets between them buffer, so
        # the server's writes to the slow client block.
        big = ["x" * 1000] * 200
        chunks = 40
        async with (
            stream_stack.client() as slow_client,
            stream_stack.client() as fast_client,
            subscribe(slow_client, path, stream_stack.headers()) as slow,
            subscribe(fast_client, path, stream_stack.headers()) as fast,
        ):
            await hub_listening(stream_stack)
            fast_reader = asyncio.create_task(collect_n(fast, chunks))
            for seq in range(chunks):
                await log(stream_stack, run_id, seq, big)
            fast_events = await asyncio.wait_for(fast_reader, TIMEOUT)
            # Nobody's stream holds a connection (the hub's reads take one for a moment).
            pool = stream_stack.app.state.engine.pool
            await asyncio.wait_for(until(lambda: pool.checkedout() == 0), TIMEOUT)
            hub = stream_stack.app.state.stream_hub
            subscriptions = hub.by_run.get(run_id, set())
            # What the slow one has not read is not held in memory past its buffer: it was let
            # go when the buffer overflowed, or (on a loaded machine, when it started behind
            # the hub) it was never fed from memory and reads from the database.
            assert len(subscriptions) == 2
            assert max(len(s.queue) for s in subscriptions) <= BUFFER_EVENTS < chunks
            slow_events = await collect_n(slow, chunks)
        feed = await feed_of(stream_stack, run_id)
        assert [int(e.id or 0) for e in fast_events] == feed[1:]
        assert [int(e.id or 0) for e in slow_events] == feed[1:]

    async def test_idle_streams_send_heartbeat_comments(self, stream_stack: StreamStack) -> None:
        run_id = await stream_stack.new_run()
        async with (
            stream_stack.client() as client,
            subscribe(client, f"/api/v1/runs/{run_id}/stream", stream_stack.headers()) as stream,
        ):
            comments = []
            async for item in stream:
                assert isinstance(item, Comment)
                comments.append(item.text)
                if len(comments) == 2:
                    break
        assert comments == ["keep-alive", "keep-alive"]


async def until(condition: Callable[[], bool]) -> None:
    while not condition():  # noqa: ASYNC110 - a pool offers no event to wait on
        await asyncio.sleep(0.01)


async def collect_n(events: AsyncIterator[Event | Comment], count: int) -> list[Event]:
    found: list[Event] = []

    async def run() -> None:
        async for item in events:
            if isinstance(item, Event):
                found.append(item)
                if len(found) == count:
                    return

    await asyncio.wait_for(run(), TIMEOUT)
    return found


async def to_the_close(events: AsyncIterator[Event | Comment]) -> list[Event]:
    """Every event until the server closes the stream (a timeout if it does not)."""

    async def run() -> list[Event]:
        return [item async for item in events if isinstance(item, Event)]

    return await asyncio.wait_for(run(), TIMEOUT)


async def ended_long_ago(stack: StreamStack, run_id: uuid.UUID) -> None:
    """Its grace for late log lines long over (no event: the state does not change)."""
    async with stack.sessions() as session, session.begin():
        await session.execute(
            update(Run).where(Run.id == run_id).values(finished_at=datetime(2020, 1, 1, tzinfo=UTC))
        )


async def an_ended_run(stack: StreamStack) -> uuid.UUID:
    run_id = await stack.new_run()
    await a_run_from_start_to_end(stack, run_id)
    await ended_long_ago(stack, run_id)
    return run_id


class TestRunStreamEnds:
    async def test_it_ends_after_the_final_state_and_the_log_lines_just_after(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await stream_stack.new_run()
        path = f"/api/v1/runs/{run_id}/stream"
        async with (
            stream_stack.client() as client,
            subscribe(client, path, stream_stack.headers()) as stream,
        ):
            await hub_listening(stream_stack)
            reader = asyncio.create_task(to_the_close(stream))
            await a_run_from_start_to_end(stream_stack, run_id)
            # Shipped just after the final state, within the grace (END_GRACE).
            await log(stream_stack, run_id, 1, ["Completed at: now", "Succeeded: 2"])
            received = await reader
        *events, end = received
        feed = await feed_of(stream_stack, run_id)
        assert journaled(events) == feed[1:]  # all of it, the late log lines included
        assert [e.event for e in events[-2:]] == ["run", "log"]
        assert events[-1].data["lines"] == ["Completed at: now", "Succeeded: 2"]
        assert end.event == "end"
        assert end.data == {"run_id": str(run_id), "run_state": "COMPLETE"}
        assert end.id == str(feed[-1])  # resuming from it: nothing more, then end again

    async def test_an_ended_runs_stream_gives_its_state_then_end(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await an_ended_run(stream_stack)
        feed = await feed_of(stream_stack, run_id)
        async with (
            stream_stack.client() as client,
            subscribe(client, f"/api/v1/runs/{run_id}/stream", stream_stack.headers()) as s,
        ):
            run, end = await to_the_close(s)
        assert run.event == "run" and end.event == "end"
        assert run.data["state"] == run.data["run_state"] == "COMPLETE"
        assert run.data["run_id"] == str(run_id)
        assert run.id == end.id == str(feed[-1])
        assert end.data == {"run_id": str(run_id), "run_state": "COMPLETE"}

    async def test_an_ended_runs_stream_waits_for_events_an_older_transaction_holds_back(
        self, stream_stack: StreamStack
    ) -> None:
        # A transaction with an xid older than every event of the run, open meanwhile: the
        # feed holds back what committed after it (xids are the whole server's, so a test of
        # another xdist worker, or a long migration, does this in earnest).
        async with stream_stack.sessions() as blocker:
            await blocker.execute(text("SELECT pg_current_xact_id()"))
            run_id = await an_ended_run(stream_stack)
            feed = await feed_of(stream_stack, run_id)
            headers = stream_stack.headers() | {"Last-Event-ID": str(feed[2])}
            async with (
                stream_stack.client() as client,
                subscribe(client, f"/api/v1/runs/{run_id}/stream", headers) as stream,
            ):
                reader = asyncio.create_task(to_the_close(stream))
                await asyncio.sleep(0.5)
                assert not reader.done(), "the stream ended with events still held back"
                await blocker.rollback()
                *missed, end = await reader
        assert journaled(missed) == feed[3:]
        assert end.event == "end" and end.id == str(feed[-1])

    async def test_resuming_an_ended_run_replays_what_was_missed_then_ends(
        self, stream_stack: StreamStack
    ) -> None:
        run_id = await an_ended_run(stream_stack)
        feed = await feed_of(stream_stack, run_id)
        path = f"/api/v1/runs/{run_id}/stream"
        async with stream_stack.client() as client:
            async with subscribe(
                client, path, stream_stack.headers() | {"Last-Event-ID": str(feed[2])}
            ) as stream:
                *missed, end = await to_the_close(stream)
            async with subscribe(
                client, path, stream_stack.headers(), last_event_id=end.id
            ) as stream:
                again = await to_the_close(stream)
        assert journaled(missed) == feed[3:]
        assert [e.data["state"] for e in missed if e.event == "run"] == ["COMPLETE"]
        assert (end.event, end.id, end.data["run_state"]) == ("end", str(feed[-1]), "COMPLETE")
        assert again == [end]  # from the end's id: nothing missed, the end again

    async def test_the_project_stream_goes_on_after_a_run_ends(
        self, stream_stack: StreamStack
    ) -> None:
        ended, next_one = await stream_stack.new_run(), await stream_stack.new_run()
        async with (
            stream_stack.client() as client,
            subscribe(client, "/api/v1/runs/stream", stream_stack.headers()) as stream,
        ):
            await hub_listening(stream_stack)
            await a_run_from_start_to_end(stream_stack, ended)
            await collect(stream, lambda e: e.data["run_id"] == str(ended) and is_end(e))
            await move(stream_stack, next_one, RunState.INITIALIZING)
            later = await collect(stream, lambda e: e.data["run_id"] == str(next_one))
            # Still open: the heartbeat comes (0.3 s here), no end.
            rest = await asyncio.wait_for(anext(aiter(stream)), TIMEOUT)
        assert later[-1].data["state"] == "INITIALIZING"
        assert not any(e.event == "end" for e in later)
        assert rest == Comment("keep-alive")


class TestStreamRefusals:
    async def test_without_a_token_401(self, stream_stack: StreamStack) -> None:
        run_id = await stream_stack.new_run()
        async with stream_stack.client() as client:
            response = await client.get(
                f"/api/v1/runs/{run_id}/stream",
                headers={"X-Project-ID": str(stream_stack.project_id)},
            )
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"

    async def test_another_projects_run_is_404_before_the_stream_starts(
        self, stream_stack: StreamStack
    ) -> None:
        theirs = await stream_stack.new_run(stream_stack.other_project_id)
        async with stream_stack.client() as client:
            response = await client.get(
                f"/api/v1/runs/{theirs}/stream", headers=stream_stack.headers()
            )
            unknown = await client.get(
                f"/api/v1/runs/{uuid.uuid4()}/stream", headers=stream_stack.headers()
            )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert unknown.status_code == 404

    @pytest.mark.parametrize("value", ["abc", "-1", "1.5", "12345678901234567890", "0x1f", ""])
    async def test_a_last_event_id_that_is_not_digits_is_400(
        self, stream_stack: StreamStack, value: str
    ) -> None:
        run_id = await stream_stack.new_run()
        async with stream_stack.client() as client:
            response = await client.get(
                f"/api/v1/runs/{run_id}/stream",
                headers=stream_stack.headers() | {"Last-Event-ID": value},
            )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == "application/problem+json"

    async def test_another_projects_event_id_is_400(self, stream_stack: StreamStack) -> None:
        theirs = await stream_stack.new_run(stream_stack.other_project_id)
        ours = await stream_stack.new_run()
        their_event = (await feed_of(stream_stack, theirs))[0]
        async with stream_stack.client() as client:
            response = await client.get(
                f"/api/v1/runs/{ours}/stream",
                headers=stream_stack.headers() | {"Last-Event-ID": str(their_event)},
            )
            bad_query = await client.get(
                f"/api/v1/runs/{ours}/stream",
                headers=stream_stack.headers(),
                params={"last_event_id": "x"},
            )
        assert response.status_code == 400
        assert "not an event of this project" in response.json()["detail"]
        assert bad_query.status_code == 422


class TestProjectStream:
    async def test_from_now_skips_what_committed_before_past_an_older_open_transaction(
        self, stream_stack: StreamStack
    ) -> None:
        before, after = await stream_stack.new_run(), await stream_stack.new_run()
        # An xid older than ``before``'s events, open while the stream opens: those events
        # have committed but lie beyond the horizon the stream starts from.
        async with stream_stack.sessions() as blocker:
            await blocker.execute(text("SELECT pg_current_xact_id()"))
            await move(stream_stack, before, RunState.INITIALIZING)
            async with (
                stream_stack.client() as client,
                subscribe(client, "/api/v1/runs/stream", stream_stack.headers()) as everything,
            ):
                await hub_listening(stream_stack)
                await blocker.rollback()
                await move(stream_stack, after, RunState.INITIALIZING)
                [first] = await collect_n(everything, 1)
        assert first.data["run_id"] == str(after)

    async def test_state_filter_and_project_scope(self, stream_stack: StreamStack) -> None:
        done, failed = await stream_stack.new_run(), await stream_stack.new_run()
        theirs = await stream_stack.new_run(stream_stack.other_project_id)
        async with (
            stream_stack.client() as client,
            subscribe(
                client,
                "/api/v1/runs/stream",
                stream_stack.headers(),
                state=["COMPLETE", "EXECUTOR_ERROR"],
            ) as finished,  # fmt: skip
            subscribe(client, "/api/v1/runs/stream", stream_stack.headers()) as everything,
        ):
            await hub_listening(stream_stack)
            for run_id in (theirs, done, failed):
                await move(stream_stack, run_id, RunState.INITIALIZING)
                await move(stream_stack, run_id, RunState.RUNNING)
            await tasks(stream_stack, done, "SUBMITTED", 1)
            await move(stream_stack, theirs, RunState.COMPLETE)
            await move(stream_stack, done, RunState.COMPLETE)
            await move(stream_stack, failed, RunState.EXECUTOR_ERROR)
            ends = await collect_n(finished, 2)
            seen = await collect(
                everything, lambda e: e.data["run_id"] == str(failed) and is_end(e)
            )
        assert [(e.data["run_id"], e.data["state"]) for e in ends] == [
            (str(done), "COMPLETE"), (str(failed), "EXECUTOR_ERROR"),
        ]  # fmt: skip
        assert {e.data["run_id"] for e in seen} == {str(done), str(failed)}
        assert {e.event for e in seen} == {"run", "progress"}  # tasks: on the run's stream
