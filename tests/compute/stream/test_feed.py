"""The run event feed's triggers (migration 0006_run_event_feed) and its pruning by the
worker's heartbeat: in the test's rolled-back transaction (the triggers fire all the same)."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.config import Settings
from nfhub_compute.logs.repository import RunLogRepository
from nfhub_compute.models import Run, RunEvent
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.worker.heartbeat import Heartbeat


async def a_run(session: AsyncSession, project_id: uuid.UUID | None = None) -> Run:
    run = Run(
        project_id=project_id or uuid.uuid4(), org_id=uuid.uuid4(), pipeline_slug="hello",
        pipeline_version="1.0.0", name="feed", nextflow_name=f"feed-{secrets.token_hex(6)}",
        storage_uri="file:///x", outdir_uri="file:///x/out", backend="noop", created_by="t",
        params={}, profiles=[], labels=[], workflow={},
    )  # fmt: skip
    session.add(run)
    await session.flush()
    return run


async def events_of(session: AsyncSession, run_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    rows = await session.execute(
        select(RunEvent.kind, RunEvent.data)
        .where(RunEvent.run_id == run_id)
        .order_by(RunEvent.xid, RunEvent.id)
    )
    return [(kind, data) for kind, data in rows]


def task(task_id: int, status: str, rank: int) -> dict[str, Any]:
    return {"task_id": task_id, "status": status, "status_rank": rank, "process": "P",
            "trace": {}}  # fmt: skip


class TestTriggers:
    async def test_a_run_and_its_moves(self, db_session: AsyncSession) -> None:
        run = await a_run(db_session)
        now = datetime.now(UTC)
        runs = RunRepository(db_session)
        assert await runs.move(run.id, RunState.INITIALIZING, {}, now)
        # Not a move: the same state again, or another column, is no event.
        await db_session.execute(update(Run).where(Run.id == run.id).values(updated_at=now))
        assert await runs.move(run.id, RunState.RUNNING, {"state_reason": None}, now)
        events = await events_of(db_session, run.id)
        assert [(kind, data["state"], data["previous"]) for kind, data in events] == [
            ("run", "QUEUED", None),
            ("run", "INITIALIZING", "QUEUED"),
            ("run", "RUNNING", "INITIALIZING"),
        ]

    async def test_tasks_only_when_their_status_changes(self, db_session: AsyncSession) -> None:
        run = await a_run(db_session)
        tasks = TaskRepository(db_session)
        await tasks.upsert(run.id, [task(1, "SUBMITTED", 1), task(2, "SUBMITTED", 1)])
        # Tower repeats the latest state of every task in each batch: no news, no event.
        await tasks.upsert(run.id, [task(1, "SUBMITTED", 1), task(2, "SUBMITTED", 1)])
        # A late, lower-ranked report loses the merge: no change, no event.
        await tasks.upsert(run.id, [task(1, "RUNNING", 2)])
        await tasks.upsert(run.id, [task(1, "SUBMITTED", 1)])
        events = await events_of(db_session, run.id)
        assert [
            (kind, data["task_id"], data["status"], data["previous"]) for kind, data in events[1:]
        ] == [
            ("task", 1, "SUBMITTED", None),
            ("task", 2, "SUBMITTED", None),
            ("task", 1, "RUNNING", "SUBMITTED"),
        ]

    async def test_log_lines(self, db_session: AsyncSession) -> None:
        run = await a_run(db_session)
        logs = RunLogRepository(db_session)
        assert await logs.append(
            run.id, "console", seq=0, first_line=0, lines=["a", "b"], byte_count=4,
            truncated=False,
        )  # fmt: skip
        # Shipped twice (a worker retrying): kept once, told once.
        assert not await logs.append(
            run.id, "console", seq=0, first_line=0, lines=["a", "b"], byte_count=4,
            truncated=False,
        )  # fmt: skip
        events = await events_of(db_session, run.id)
        assert events[1:] == [
            ("log", {"source": "console", "first_line": 0, "lines": ["a", "b"],
                     "truncated": False}),
        ]  # fmt: skip


class TestPruning:
    async def test_the_heartbeat_drops_events_past_the_retention(
        self, session_factory: Any, db_session: AsyncSession, compute_settings: Settings
    ) -> None:
        old, new = await a_run(db_session), await a_run(db_session)
        await db_session.execute(
            update(RunEvent)
            .where(RunEvent.run_id == old.id)
            .values(created_at=datetime.now(UTC) - timedelta(hours=73))
        )
        await db_session.commit()
        settings = compute_settings.model_copy(update={"STREAM_RETENTION_HOURS": 72.0})
        await Heartbeat(session_factory, settings, backend="noop").beat()
        assert await events_of(db_session, old.id) == []
        assert len(await events_of(db_session, new.id)) == 1
