"""A run's tasks and its progress, per process, counted from the task rows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.models import Run, Task
from nfhub_compute.runs.errors import RunNotFound
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_shared.auth.principal import ProjectAccess

# Task status → progress counter.
COUNTER_OF_STATUS = {
    "NEW": "submitted",
    "SUBMITTED": "submitted",
    "RUNNING": "running",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "CACHED": "cached",
    "ABORTED": "aborted",
}
COUNTERS = ("submitted", "running", "succeeded", "failed", "cached", "aborted")


def empty_counts() -> dict[str, int]:
    return {**dict.fromkeys(COUNTERS, 0), "total": 0}


def progress_of(
    counts: Sequence[tuple[str, str, int]],
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """(totals, per-process counters) from (process, status, tasks) rows."""
    totals = empty_counts()
    processes: dict[str, dict[str, Any]] = {}
    for process, status, tasks in counts:
        entry = processes.setdefault(process, {"process": process, **empty_counts()})
        counter = COUNTER_OF_STATUS.get(status, "submitted")
        for target in (entry, totals):
            target[counter] += tasks
            target["total"] += tasks
    return totals, list(processes.values())


class TaskService:
    def __init__(self, session: AsyncSession, access: ProjectAccess) -> None:
        self.session = session
        self.access = access
        self.tasks = TaskRepository(session)
        self.runs = RunRepository(session)

    async def run(self, run_id: uuid.UUID) -> Run:
        run = await self.runs.get_in_project(self.access.project_id, run_id)
        if run is None:
            raise RunNotFound(f"No run {run_id} in this project.")
        return run

    async def progress(self, run_id: uuid.UUID) -> dict[str, Any]:
        run = await self.run(run_id)
        totals, processes = progress_of(await self.tasks.counts(run.id))
        return {
            "run_id": run.id,
            "state": run.state,
            "totals": totals,
            "processes": processes,
            "workflow_stats": run.stats,
        }

    async def list_tasks(
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
        run = await self.run(run_id)
        return await self.tasks.list_for_run(
            run.id,
            statuses=statuses,
            process=process,
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )
