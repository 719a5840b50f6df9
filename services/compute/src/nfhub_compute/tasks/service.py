"""A run's tasks and their counters per process, counted from the task rows.

Runs use this domain (a run's progress, its task list); it knows nothing of runs, so the
caller checks the run is one the principal may read.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from nfhub_compute.models import Task
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.tasks.schemas import ProcessProgress, TaskCounts, TaskFilter
from nfhub_shared.db.session import AsyncSession

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
) -> tuple[TaskCounts, list[ProcessProgress]]:
    """(totals, per-process counters) from (process, status, tasks) rows."""
    totals = empty_counts()
    processes: dict[str, dict[str, int]] = {}
    for process, status, tasks in counts:
        entry = processes.setdefault(process, empty_counts())
        counter = COUNTER_OF_STATUS.get(status, "submitted")
        for target in (entry, totals):
            target[counter] += tasks
            target["total"] += tasks
    return TaskCounts(**totals), [
        ProcessProgress(process=process, **entry) for process, entry in processes.items()
    ]


class TaskService:
    def __init__(self, session: AsyncSession) -> None:
        self.tasks = TaskRepository(session)

    async def progress(self, run_id: uuid.UUID) -> tuple[TaskCounts, list[ProcessProgress]]:
        """(totals, per-process counters) of a run's tasks."""
        return progress_of(await self.tasks.counts(run_id))

    async def totals_of(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TaskCounts]:
        """Each run's task counts (zero for a run without tasks yet)."""
        totals = {run_id: empty_counts() for run_id in run_ids}
        for run_id, status, tasks in await self.tasks.counts_of_runs(list(run_ids)):
            counts = totals[run_id]
            counts[COUNTER_OF_STATUS.get(status, "submitted")] += tasks
            counts["total"] += tasks
        return {run_id: TaskCounts(**counts) for run_id, counts in totals.items()}

    async def list_tasks(
        self, run_id: uuid.UUID, task_filter: TaskFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Task], int]:
        return await self.tasks.list_for_run(run_id, task_filter, limit=limit, offset=offset)
