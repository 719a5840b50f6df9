"""A run's tasks and their counters per process, counted from the task rows.

Runs use this domain (a run's progress, its task list); it knows nothing of runs, so the
caller checks the run is one the principal may read.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from nfhub_compute.models import Task
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.tasks.schemas import (
    MetricSummary,
    ProcessMetrics,
    ProcessProgress,
    TaskCounts,
    TaskFilter,
)
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


SERIES = (
    "cpu_percent", "peak_rss", "realtime_ms", "read_bytes", "write_bytes", "cpu_usage",
    "memory_usage", "time_usage",
)  # fmt: skip
# Tower's complete payload (ResourcesAggregator, ReportSummary): its series → ours.
TOWER_SERIES = {
    "cpu": "cpu_percent", "mem": "peak_rss", "time": "realtime_ms", "reads": "read_bytes",
    "writes": "write_bytes", "cpuUsage": "cpu_usage", "memUsage": "memory_usage",
    "timeUsage": "time_usage",
}  # fmt: skip
SUMMARY_KEYS = ("mean", "min", "q1", "median", "q3", "max")


def summary_of_row(row: Mapping[str, Any], name: str) -> MetricSummary | None:
    """The series ``name`` of a TaskRepository.metrics row; None when no task had a value."""
    count = int(row[f"{name}_count"] or 0)
    numbers = row[f"{name}_numbers"]
    if count == 0 or numbers is None:
        return None
    low, q1, median, q3, high = numbers
    return MetricSummary(
        count=count,
        mean=row[f"{name}_sum"] / count,
        min=low,
        q1=q1,
        median=median,
        q3=q3,
        max=high,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def tower_summary(series: Any) -> MetricSummary | None:
    """A ReportSummary series as the Tower client sent it; None when it is not one (Nextflow
    sends null for a series no task had, or whose values were all 0)."""
    if not isinstance(series, Mapping):
        return None
    values = {key: _number(series.get("q2" if key == "median" else key)) for key in SUMMARY_KEYS}
    if any(value is None for value in values.values()):
        return None
    return MetricSummary(count=None, **values)


def tower_metrics(entries: Sequence[Any]) -> list[ProcessMetrics]:
    """The complete payload's ``metrics``, one entry per process; entries without a process
    name are left out."""
    processes = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("process"), str):
            continue
        series = {ours: tower_summary(entry.get(theirs)) for theirs, ours in TOWER_SERIES.items()}
        processes.append(ProcessMetrics(process=entry["process"], tasks=None, **series))
    return sorted(processes, key=lambda process: process.process)


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

    async def metrics(self, run_id: uuid.UUID) -> list[ProcessMetrics]:
        """Per process, each series' summary over the tasks that ended (one query)."""
        return [
            ProcessMetrics(
                process=row["process"],
                tasks=int(row["tasks"]),
                **{name: summary_of_row(row, name) for name in SERIES},
            )
            for row in await self.tasks.metrics(run_id)
        ]

    async def list_tasks(
        self, run_id: uuid.UUID, task_filter: TaskFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Task], int]:
        return await self.tasks.list_for_run(run_id, task_filter, limit=limit, offset=offset)
