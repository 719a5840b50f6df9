from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.dialects.postgresql import insert

from nfhub_compute.models import Task
from nfhub_shared.db.repository import Repository

MERGED_COLUMNS = (
    "hash", "name", "process", "tag", "native_id", "exit_status", "attempt", "error_action",
    "workdir", "container", "hostname", "cpus", "memory", "submit_at", "start_at",
    "complete_at", "duration_ms", "realtime_ms", "cpu_percent", "peak_rss", "peak_vmem",
    "read_bytes", "write_bytes",
)  # fmt: skip
SORTABLE = {
    "task_id": Task.task_id,
    "submit": Task.submit_at,
    "start": Task.start_at,
    "complete": Task.complete_at,
    "duration": Task.duration_ms,
    "realtime": Task.realtime_ms,
    "peak_rss": Task.peak_rss,
    "cpu": Task.cpu_percent,
    "name": Task.name,
}


def merge_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per task: a batch may hold the same task twice (one INSERT may not)."""
    merged: dict[int, dict[str, Any]] = {}
    for row in rows:
        seen = merged.get(row["task_id"])
        if seen is None:
            merged[row["task_id"]] = dict(row)
            continue
        high, low = (row, seen) if row["status_rank"] >= seen["status_rank"] else (seen, row)
        combined = {
            key: high.get(key) if high.get(key) is not None else low.get(key) for key in high
        }
        combined["trace"] = {**low["trace"], **high["trace"]}
        merged[row["task_id"]] = combined
    return list(merged.values())


class TaskRepository(Repository[Task]):
    model = Task

    async def upsert(self, run_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or merge tasks: the higher status rank wins, gaps are filled from the other.

        The same rows in any order, any number of times, give the same result.
        """
        if not rows:
            return
        statement = insert(Task).values([{**row, "run_id": run_id} for row in merge_rows(rows)])
        new = statement.excluded
        newer: ColumnElement[bool] = new.status_rank >= Task.status_rank
        merged: dict[str, Any] = {
            name: case(
                (newer, func.coalesce(new[name], getattr(Task, name))),
                else_=func.coalesce(getattr(Task, name), new[name]),
            )
            for name in MERGED_COLUMNS
        }
        merged["status"] = case((newer, new.status), else_=Task.status)
        merged["status_rank"] = func.greatest(new.status_rank, Task.status_rank)
        merged["trace"] = case(
            (newer, Task.trace.op("||")(new.trace)), else_=new.trace.op("||")(Task.trace)
        )
        merged["updated_at"] = func.now()
        await self.session.execute(
            statement.on_conflict_do_update(index_elements=[Task.run_id, Task.task_id], set_=merged)
        )

    async def counts(self, run_id: uuid.UUID) -> list[tuple[str, str, int]]:
        """(process, status, tasks) for a run: an index-only scan of (run_id, process, status)."""
        rows = await self.session.execute(
            select(Task.process, Task.status, func.count())
            .where(Task.run_id == run_id)
            .group_by(Task.process, Task.status)
            .order_by(Task.process)
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def list_for_run(
        self,
        run_id: uuid.UUID,
        *,
        statuses: Sequence[str] | None,
        process: str | None,
        sort: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Task], int]:
        statement = select(Task).where(Task.run_id == run_id)
        if statuses:
            statement = statement.where(Task.status.in_(statuses))
        if process is not None:
            statement = statement.where(Task.process == process)
        column = SORTABLE[sort]
        ordering = column.desc().nulls_last() if descending else column.asc().nulls_last()
        statement = statement.order_by(ordering, Task.task_id)
        return await self.paginate(statement, limit=limit, offset=offset)
