"""A progress call commits its tasks without holding the run row (tower.repository): nearly
every call brings new counters, so nearly every call updates the run row, and a call that
held it through its upsert made one run's concurrent calls write one at a time.

Real connections and real commits, on a database of their own: a lock held by another
transaction cannot live in the rolled-back test transaction's one connection.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from nfhub_compute.tower.parsing import progress_times, progress_traces
from nfhub_compute.tower.repository import TowerProgressRepository
from nfhub_compute.tower.schemas import ProgressBatch
from support.tower import payload

WAIT_SECONDS = 10.0


@pytest_asyncio.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    # As compute's events engine: autocommit, each statement its own transaction.
    engine = create_async_engine(
        database_url, pool_size=3, max_overflow=0, isolation_level="AUTOCOMMIT"
    )
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def run_id(engine: AsyncEngine) -> uuid.UUID:
    """A RUNNING run on the Tower channel, committed."""
    run = uuid.uuid4()
    async with engine.connect() as connection:
        await connection.execute(
            text(
                "INSERT INTO compute.runs (id, project_id, org_id, pipeline_slug, "
                "pipeline_version, name, nextflow_name, state, params, profiles, labels, "
                "storage_uri, outdir_uri, resume, backend, workflow, created_by, source, "
                "channel, tower_workflow_id) VALUES (:id, :project, :org, 'locks', '', "
                "'locks', :nextflow_name, 'RUNNING', '{}', '{}', '{}', '', '', false, "
                "'external', '{}', 'test', 'external', 'tower', :workflow_id)"
            ),
            {"id": run, "project": uuid.uuid4(), "org": uuid.uuid4(),
             "nextflow_name": f"locks-{run.hex}", "workflow_id": workflow_id(run)},
        )  # fmt: skip
    return run


def workflow_id(run_id: uuid.UUID) -> str:
    return run_id.hex[:16]


async def stored_tasks(engine: AsyncEngine, run_id: uuid.UUID) -> int:
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM compute.tasks WHERE run_id = :run"), {"run": run_id}
        )
    return int(count or 0)


async def report(
    engine: AsyncEngine,
    run_id: uuid.UUID,
    body: bytes,
    counters: dict[str, Any],
    project_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """One progress call's writes, as TowerProgressService makes them."""
    now = datetime.now(UTC)
    tasks = ProgressBatch.model_validate_json(body).tasks
    times = progress_times(tasks)
    traces = progress_traces(tasks, times)
    async with engine.connect() as connection:
        return await TowerProgressRepository(connection).report(
            workflow_id(run_id),
            project_id=project_id,
            run_id=None,
            traces=json.dumps(traces),
            times=times,
            progress=json.dumps(counters),
            instant=int(now.timestamp() * 1000),
            now=now,
            stale=now - timedelta(seconds=2),
        )


async def test_tasks_are_committed_while_another_call_holds_the_run_row(
    engine: AsyncEngine, run_id: uuid.UUID
) -> None:
    tasks = payload("progress")["tasks"]
    body = json.dumps({"tasks": tasks}).encode()
    counters = {"pending": 1, "running": 2, "succeeded": 3}
    async with engine.connect() as holder:
        # Another call's counters update, not yet committed: it holds the run row.
        await holder.execution_options(isolation_level="READ COMMITTED")
        async with holder.begin():
            await holder.execute(
                text("SELECT 1 FROM compute.runs WHERE id = :run FOR NO KEY UPDATE"),
                {"run": run_id},
            )
            call = asyncio.create_task(report(engine, run_id, body, counters))
            deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
            while await stored_tasks(engine, run_id) < len(tasks):
                assert not call.done(), call.result()
                assert asyncio.get_running_loop().time() < deadline, (
                    "the tasks were not committed while the run row was held"
                )
                await asyncio.sleep(0.01)
            # The counters wait for the row: the call is answered only once they are kept.
            assert not call.done()
        assert await asyncio.wait_for(call, WAIT_SECONDS) == run_id
    async with engine.connect() as connection:
        kept = await connection.scalar(
            text("SELECT progress FROM compute.runs WHERE id = :run"), {"run": run_id}
        )
    assert kept == counters


async def test_another_projects_call_writes_nothing(engine: AsyncEngine, run_id: uuid.UUID) -> None:
    body = json.dumps({"tasks": payload("progress")["tasks"]}).encode()
    found = await report(engine, run_id, body, {"pending": 9}, project_id=uuid.uuid4())
    assert found is None
    assert await stored_tasks(engine, run_id) == 0
