"""Group commit of weblog events (events.writer): many requests' events in one transaction,
each request answered only once its rows are committed, a failed batch failing exactly its
own requests, a full queue refusing at once.

These run on a database of their own with real connections and real commits: a concurrent
writer cannot share the rolled-back test transaction's one connection.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from nfhub_compute.events.parsing import Event
from nfhub_compute.events.writer import EventBatchFailed, EventQueueFull, EventWriter
from nfhub_compute.runs.weblog import weblog_token

PROBLEM_JSON = "application/problem+json"


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # As compute's events engine: autocommit (a batch of task events is one statement, a batch
    # with workflow values opens a transaction of its own).
    engine = create_async_engine(
        database_url, pool_size=4, max_overflow=0, isolation_level="AUTOCOMMIT"
    )
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def run_id(engine: AsyncEngine) -> uuid.UUID:
    """An INITIALIZING external run, committed."""
    run = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO compute.runs (id, project_id, org_id, pipeline_slug, "
                "pipeline_version, name, nextflow_name, state, params, profiles, labels, "
                "storage_uri, outdir_uri, resume, backend, workflow, created_by) VALUES (:id, "
                ":project, :org, 'group-commit', '1', 'gc', :nextflow_name, 'INITIALIZING', "
                "'{}', '{}', '{}', '', '', false, 'external', '{}', 'test')"
            ),
            {"id": run, "project": uuid.uuid4(), "org": uuid.uuid4(),
             "nextflow_name": f"gc-{run.hex}"},
        )  # fmt: skip
    return run


def task_event(task_id: int, status: str = "COMPLETED", kind: str = "process_completed") -> Event:
    trace = {
        "task_id": task_id,
        "status": status,
        "process": "P",
        "name": f"P ({task_id})",
        "hash": f"{task_id % 256:02x}/abcdef",
        "exit": 0 if status == "COMPLETED" else None,
    }
    return Event(kind=kind, utc_time=None, workflow={}, trace=trace, params=None)  # fmt: skip


async def stored_tasks(engine: AsyncEngine, run_id: uuid.UUID) -> dict[int, str]:
    """The run's committed tasks (read on a connection of its own)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT task_id, status FROM compute.tasks WHERE run_id = :run"), {"run": run_id}
        )
        return {int(row[0]): str(row[1]) for row in rows}


class Gated:
    """Connections of ``engine``; the first batch waits at ``gate``, the batches numbered in
    ``failing`` fail before anything is written."""

    def __init__(self, engine: AsyncEngine, failing: frozenset[int] = frozenset()) -> None:
        self.engine = engine
        self.failing = failing
        self.gate = asyncio.Event()
        self.batches = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[AsyncConnection]:
        self.batches += 1
        number = self.batches
        async with self.engine.connect() as connection:
            if number == 1:
                await self.gate.wait()
            if number in self.failing:
                raise RuntimeError(f"batch {number} refused by the test")
            yield connection


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (no clock involved)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the writer never got there")


async def until_queued(writer: EventWriter, count: int) -> None:
    await until(lambda: len(writer.queue) >= count)


class TestGroupCommit:
    async def test_concurrent_posters_share_transactions_and_answer_after_commit(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        writer = EventWriter(engine.connect, max_batch=50, in_flight=2)
        writer.start()
        seen_committed: list[bool] = []

        async def post(task_id: int, status: str) -> None:
            await writer.store(run_id, task_event(task_id, status))
            # Answered: the row is there for any other connection to read.
            seen_committed.append(task_id in await stored_tasks(engine, run_id))

        try:
            # 150 tasks; tasks 1-50 are posted SUBMITTED then COMPLETED, in the same burst.
            posters = [post(task_id, "COMPLETED") for task_id in range(1, 151)]
            posters += [post(task_id, "SUBMITTED") for task_id in range(1, 51)]
            await asyncio.gather(*posters)
        finally:
            await writer.stop()

        assert seen_committed == [True] * 200
        assert 2 <= writer.batches < 200  # grouped, and max_batch honoured
        tasks = await stored_tasks(engine, run_id)
        assert sorted(tasks) == list(range(1, 151))  # each task stored once
        # A task only moves up: the SUBMITTED that came after COMPLETED changes nothing.
        assert set(tasks.values()) == {"COMPLETED"}
        async with engine.connect() as connection:
            state = await connection.scalar(
                text("SELECT state FROM compute.runs WHERE id = :id"), {"id": run_id}
            )
        assert state == "RUNNING"  # INITIALIZING → RUNNING, as event by event

    async def test_later_events_of_a_task_win_within_one_batch(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        connect = Gated(engine)
        writer = EventWriter(connect, in_flight=1)
        writer.start()
        try:
            first = asyncio.create_task(writer.store(run_id, task_event(999, "SUBMITTED")))
            await until(lambda: connect.batches == 1)  # taken, waiting at the gate
            statuses = ("SUBMITTED", "RUNNING", "COMPLETED", "RUNNING")  # a late RUNNING
            later = [
                asyncio.create_task(writer.store(run_id, task_event(7, status)))
                for status in statuses
            ]
            await until_queued(writer, len(statuses))
            connect.gate.set()
            await asyncio.gather(first, *later)
        finally:
            await writer.stop()

        assert connect.batches == 2  # the four events of task 7 went in one transaction
        assert (await stored_tasks(engine, run_id))[7] == "COMPLETED"

    async def test_a_failed_batch_fails_exactly_its_requests(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        connect = Gated(engine, failing=frozenset({2}))
        writer = EventWriter(connect, in_flight=1)
        writer.start()
        try:
            first = asyncio.create_task(writer.store(run_id, task_event(1)))
            await until(lambda: connect.batches == 1)  # taken, waiting at the gate
            doomed = [asyncio.create_task(writer.store(run_id, task_event(n))) for n in (2, 3, 4)]
            await until_queued(writer, 3)
            connect.gate.set()
            results = await asyncio.gather(first, *doomed, return_exceptions=True)
            after = await writer.store(run_id, task_event(5))  # the writer goes on
        finally:
            await writer.stop()

        assert results[0] is None and after is None
        for failure in results[1:]:
            assert isinstance(failure, EventBatchFailed)
            assert failure.status_code == 503
            assert failure.headers["Retry-After"] == "1"
            assert "2 other(s)" in failure.detail
        assert sorted(await stored_tasks(engine, run_id)) == [1, 5]  # nothing of batch 2

    async def test_a_full_queue_refuses_at_once(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        connect = Gated(engine)
        writer = EventWriter(connect, in_flight=1, max_queue=2)
        writer.start()
        try:
            first = asyncio.create_task(writer.store(run_id, task_event(1)))
            await until(lambda: connect.batches == 1)
            waiting = [asyncio.create_task(writer.store(run_id, task_event(n))) for n in (2, 3)]
            await until_queued(writer, 2)
            with pytest.raises(EventQueueFull) as refused:
                await writer.store(run_id, task_event(4))
            connect.gate.set()
            await asyncio.gather(first, *waiting)
        finally:
            await writer.stop()

        assert refused.value.status_code == 503
        assert refused.value.headers["Retry-After"] == "1"
        assert sorted(await stored_tasks(engine, run_id)) == [1, 2, 3]

    async def test_a_batch_with_workflow_values_is_one_transaction(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        connect = Gated(engine, failing=frozenset({3}))
        writer = EventWriter(connect, in_flight=1)
        writer.start()
        started = Event(
            kind="started",
            utc_time=None,
            workflow={"runName": "gc", "sessionId": "s-1", "nextflow": {"version": "24.04.4"}},
            trace=None,
            params={"a": 1},
        )
        try:
            first = asyncio.create_task(writer.store(run_id, task_event(1)))
            await until(lambda: connect.batches == 1)
            second = [
                asyncio.create_task(writer.store(run_id, event))
                for event in (started, task_event(2), task_event(3, "RUNNING"))
            ]
            await until_queued(writer, 3)
            connect.gate.set()
            await asyncio.gather(first, *second)
            # The third batch (a started event and a task) fails whole: nothing of it stays.
            failed = await asyncio.gather(
                writer.store(run_id, started),
                writer.store(run_id, task_event(4)),
                return_exceptions=True,
            )
        finally:
            await writer.stop()

        assert all(isinstance(failure, EventBatchFailed) for failure in failed)
        assert await stored_tasks(engine, run_id) == {1: "COMPLETED", 2: "COMPLETED", 3: "RUNNING"}
        async with engine.connect() as connection:
            state, workflow = (
                await connection.execute(
                    text("SELECT state, workflow FROM compute.runs WHERE id = :id"), {"id": run_id}
                )
            ).one()
        assert state == "RUNNING" and workflow["runName"] == "gc"

    async def test_stopping_lets_the_batch_in_flight_and_the_queue_finish(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        connect = Gated(engine)
        writer = EventWriter(connect, in_flight=1)
        writer.start()
        first = asyncio.create_task(writer.store(run_id, task_event(1)))
        await until(lambda: connect.batches == 1)
        queued = asyncio.create_task(writer.store(run_id, task_event(2)))
        await until_queued(writer, 1)
        stopping = asyncio.create_task(writer.stop())
        await asyncio.sleep(0)
        connect.gate.set()
        await stopping

        assert await first is None and await queued is None
        assert sorted(await stored_tasks(engine, run_id)) == [1, 2]

    async def test_events_for_a_run_that_is_gone_do_not_fail_the_batch(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        writer = EventWriter(engine.connect)
        writer.start()
        try:
            await asyncio.gather(
                writer.store(run_id, task_event(1)), writer.store(uuid.uuid4(), task_event(2))
            )
        finally:
            await writer.stop()

        assert sorted(await stored_tasks(engine, run_id)) == [1]

    async def test_numbers_jsonb_cannot_hold_do_not_fail_the_batch(
        self, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        # The batch goes to PostgreSQL as one jsonb document: NaN and infinity (JSON allows
        # them, jsonb does not) and an integer past 64 bits (JSON allows it, orjson does not
        # write it) must neither fail the batch nor the other events in it.
        connect = Gated(engine)
        writer = EventWriter(connect, in_flight=1)
        writer.start()
        odd: dict[int, dict[str, Any]] = {
            1: {"%cpu": float("nan"), "rchar": float("inf")},
            2: {"%cpu": "412.3%", "vmem": 10**30},
            3: {"%cpu": 12.5},
        }
        try:
            first = asyncio.create_task(writer.store(run_id, task_event(99)))
            await until(lambda: connect.batches == 1)
            stores = []
            for task_id, fields in odd.items():
                event = task_event(task_id)
                assert event.trace is not None
                stores.append(
                    asyncio.create_task(
                        writer.store(run_id, replace(event, trace={**event.trace, **fields}))
                    )
                )
            await until_queued(writer, len(odd))
            connect.gate.set()
            await asyncio.gather(first, *stores)
        finally:
            await writer.stop()

        assert connect.batches == 2  # the three odd events shared one transaction
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT task_id, cpu_percent, trace->'%cpu', trace->'rchar', trace->'vmem' "
                    "FROM compute.tasks WHERE run_id = :run AND task_id IN (1, 2, 3) "
                    "ORDER BY task_id"
                ),
                {"run": run_id},
            )
            stored = [tuple(row) for row in rows]
        assert stored == [
            (1, None, None, None, None),  # NaN and infinity: no number, in the row and the trace
            (2, 412.3, "412.3%", None, 10**30),  # the big integer kept as it came
            (3, 12.5, 12.5, None, None),
        ]

    async def test_a_lost_connection_fails_one_batch_and_the_next_reconnects(
        self, database_url: str, engine: AsyncEngine, run_id: uuid.UUID
    ) -> None:
        # Batches run on the driver's own statement (exec_driver_sql): a connection lost
        # between batches must still be dropped from the pool, not fail every batch after it.
        lossy = create_async_engine(
            database_url,
            pool_size=1,
            max_overflow=0,
            isolation_level="AUTOCOMMIT",
            connect_args={"server_settings": {"application_name": "lost-events"}},
        )
        writer = EventWriter(lossy.connect, in_flight=1)
        writer.start()
        try:
            await writer.store(run_id, task_event(1))
            async with engine.connect() as admin:
                killed = await admin.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = 'lost-events'"
                    )
                )
            assert killed == 1  # the pool's one connection, idle between batches
            outcomes: list[BaseException | None] = []
            for task_id in (2, 3, 4):
                try:
                    await writer.store(run_id, task_event(task_id))
                    outcomes.append(None)
                except EventBatchFailed as failure:
                    outcomes.append(failure)
        finally:
            await writer.stop()
            await lossy.dispose()

        # At most the batch on the dead connection fails; the pool drops it and reconnects.
        assert outcomes[1:] == [None, None]
        stored = await stored_tasks(engine, run_id)
        assert {1, 3, 4} <= set(stored)


class TestOverHttp:
    async def test_a_full_queue_is_a_503_problem_with_retry_after(
        self, compute_app: FastAPI, compute_client: httpx.AsyncClient, hello: Any, launch: Any
    ) -> None:
        run = (await launch()).json()
        token = weblog_token(compute_app.state.settings, uuid.UUID(run["id"]))
        writer = compute_app.state.event_writer
        full = EventWriter(compute_app.state.events_connect, max_queue=0)
        compute_app.state.event_writer = full
        try:
            response = await compute_client.post(
                f"/api/v1/runs/{run['id']}/events", params={"token": token},
                json={"event": "process_submitted", "trace": {"task_id": 1}},
            )  # fmt: skip
        finally:
            compute_app.state.event_writer = writer

        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["retry-after"] == "1"
        assert "post again" in response.json()["detail"]

    async def test_a_nul_character_is_refused_before_it_reaches_a_batch(
        self, compute_app: FastAPI, compute_client: httpx.AsyncClient, hello: Any, launch: Any
    ) -> None:
        run = (await launch()).json()
        token = weblog_token(compute_app.state.settings, uuid.UUID(run["id"]))
        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/events", params={"token": token},
            content=b'{"event": "process_submitted", "trace": {"task_id": 1, "tag": "a\\u0000"}}',
        )  # fmt: skip

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
