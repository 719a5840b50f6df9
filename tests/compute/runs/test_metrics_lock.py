"""An ended run's stored summaries never miss a task written concurrently (migration 0014):
a reader storing them waits for the task writes in flight, and a task write that comes while
it computes waits for the stored row, then deletes it.

Two real connections on a committed database: the in-process app shares one connection
between requests, where no lock can be seen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from nfhub_compute.events.parsing import task_values
from nfhub_compute.models import StoredRunMetrics
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.tasks.service import TaskService

# Long enough for a blocked statement to have got through, were it not blocked.
BLOCKED_FOR = 0.5


@pytest_asyncio.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(database_url, pool_size=3, max_overflow=0)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


def task(task_id: int, cpu: float) -> dict[str, Any]:
    row = task_values({"task_id": task_id, "process": "ALIGN", "status": "COMPLETED", "%cpu": cpu})
    assert row is not None
    return row


@pytest_asyncio.fixture
async def run_id(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    """An ended external run with three tasks (%cpu 10, 20, 30), committed."""
    run = uuid.uuid4()
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO compute.runs (id, project_id, org_id, pipeline_slug, "
                "pipeline_version, name, nextflow_name, state, params, profiles, labels, "
                "storage_uri, outdir_uri, resume, backend, workflow, created_by) VALUES (:id, "
                ":project, :org, 'metrics-lock', '1', 'ml', :nextflow_name, 'COMPLETE', "
                "'{}', '{}', '{}', '', '', false, 'external', '{}', 'test')"
            ),
            {"id": run, "project": uuid.uuid4(), "org": uuid.uuid4(),
             "nextflow_name": f"ml-{run.hex[:8]}"},
        )  # fmt: skip
        await TaskRepository(session).upsert(run, [task(1, 10.0), task(2, 20.0), task(3, 30.0)])
    return run


async def stored_tasks(sessions: async_sessionmaker[AsyncSession], run: uuid.UUID) -> int | None:
    async with sessions() as session:
        row = await session.scalar(select(StoredRunMetrics).where(StoredRunMetrics.run_id == run))
    return None if row is None else int(row.processes[0]["tasks"])


async def final_metrics(sessions: async_sessionmaker[AsyncSession], run: uuid.UUID) -> int:
    """The run's summaries as an ended run's reader gets them (stored if not there): tasks."""
    async with sessions() as session, session.begin():
        computed = await TaskService(session).final_metrics(run)
    tasks = computed.processes[0].tasks
    assert tasks is not None
    return tasks


async def test_storing_waits_for_a_task_write_in_flight(
    sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID
) -> None:
    async with sessions() as writing, writing.begin():
        await TaskRepository(writing).upsert(run_id, [task(4, 40.0)])
        reader = asyncio.create_task(final_metrics(sessions, run_id))
        await asyncio.sleep(BLOCKED_FOR)
        waited = not reader.done()
    # The write committed: the reader goes on, and counts its task.
    tasks = await asyncio.wait_for(reader, 30)

    assert waited
    assert tasks == 4
    assert await stored_tasks(sessions, run_id) == 4


async def test_a_task_write_while_storing_waits_then_drops_what_was_stored(
    sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID
) -> None:
    async with sessions() as reading, reading.begin():
        computed = await TaskService(reading).final_metrics(run_id)
        assert computed.processes[0].tasks == 3

        async def write() -> None:
            async with sessions() as writing, writing.begin():
                await TaskRepository(writing).upsert(run_id, [task(4, 40.0)])

        writer = asyncio.create_task(write())
        await asyncio.sleep(BLOCKED_FOR)
        waited = not writer.done()
    # The three tasks' summaries committed; the write goes on and deletes them.
    await asyncio.wait_for(writer, 30)

    assert waited
    assert await stored_tasks(sessions, run_id) is None
    assert await final_metrics(sessions, run_id) == 4
    assert await stored_tasks(sessions, run_id) == 4


async def test_readers_of_an_ended_run_compute_once(
    sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID
) -> None:
    async with sessions() as first, first.begin():
        stored = await TaskService(first).final_metrics(run_id)
        # A second reader waits for the first's lock, then reads what it stored.
        second = asyncio.create_task(final_metrics(sessions, run_id))
        await asyncio.sleep(BLOCKED_FOR)
        waited = not second.done()
    assert await asyncio.wait_for(second, 30) == 3

    assert waited
    async with sessions() as session:
        again = await TaskService(session).final_metrics(run_id)
    assert again.computed_at == stored.computed_at
