"""A run's tasks and their counters per process, counted from the task rows.

Runs use this domain (a run's progress, its task list); it knows nothing of runs, so the
caller checks the run is one the principal may read.
"""

from __future__ import annotations

import math
import signal
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter

from nfhub_compute.models import StoredRunMetrics, Task
from nfhub_compute.tasks.errors import TaskFilesGone, TaskFilesNotRead, TaskNotFound
from nfhub_compute.tasks.repository import TaskFileRepository, TaskRepository
from nfhub_compute.tasks.schemas import (
    ComputedMetrics,
    MetricSummary,
    ProcessMetrics,
    ProcessProgress,
    TaskCounts,
    TaskDetail,
    TaskFileInfo,
    TaskFileName,
    TaskFilesPending,
    TaskFileText,
    TaskFilter,
    TaskRead,
    TaskRequested,
    TaskUsed,
)
from nfhub_shared.db.session import AsyncSession

# How long a client is told to wait before asking again for files a worker is reading.
RETRY_AFTER_SECONDS = 1
# A request no worker served in this long is answered 503 (the client may go on asking).
UNSERVED_AFTER = timedelta(seconds=60)
# Characters read per stderr line asked for (a longer line shows its end only).
TAIL_LINE_CHARS = 400
TERMINAL_STATUSES = ("COMPLETED", "FAILED", "ABORTED", "CACHED")
# What an exit status usually means, as Nextflow users meet them (shell and signal codes; a
# scheduler's kill shows as the signal's 128 + n).
EXIT_MEANINGS = {
    0: "success",
    1: "a generic error: the command failed, its stderr says why",
    2: "a misused shell builtin or a bad command-line argument",
    126: "the command cannot be executed (not executable, or a permission problem)",
    127: "command not found: a tool missing from the PATH or the container",
    130: "interrupted (SIGINT)",
    134: "aborted (SIGABRT): often a crash or a failed assertion",
    137: "killed (SIGKILL): often out of memory (the kernel's or the scheduler's OOM killer)",
    139: "segmentation fault (SIGSEGV): the program crashed",
    140: "often a scheduler's time limit (SIGUSR2, sent by Slurm or SGE before the kill)",
    143: "terminated (SIGTERM): canceled, or stopped by the scheduler at a limit",
}


def exit_meaning(code: int | None) -> str | None:
    """What an exit status usually means (None when nothing useful can be said)."""
    if code is None:
        return None
    if code in EXIT_MEANINGS:
        return EXIT_MEANINGS[code]
    if 128 < code < 128 + 65:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"killed by a signal ({name})"
    return "an error exit status of the command; its stderr says why"


def _ratio(used: float | None, asked: float | None) -> float | None:
    if used is None or not asked:
        return None
    return round(100.0 * used / asked, 1)


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
# The summaries as run_metrics keeps them (JSON: floats as Python writes them, read back equal).
STORED_PROCESSES = TypeAdapter(list[ProcessMetrics])


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

    async def metrics(
        self, run_id: uuid.UUID, *, ended: bool, max_age: timedelta, stale_max: timedelta
    ) -> ComputedMetrics:
        """The run's summaries as stored, when they still hold: an ended run's (``ended``)
        until a task of the run changes (a trigger deletes them), a running run's while
        computed at most ``max_age`` ago. A running run's older than that but not older
        than ``stale_max`` are answered while the worker computes them anew (asked for
        here); otherwise they are computed now and stored."""
        stored = await self.tasks.stored_metrics(run_id)
        if stored is not None and stored.final:
            return _of_stored(stored)
        if ended:
            return await self.final_metrics(run_id)
        now = datetime.now(UTC)
        if stored is not None:
            age = now - stored.computed_at
            if age <= max_age:
                return _of_stored(stored)
            if age <= stale_max:
                await self.tasks.request_metrics_refresh(run_id, now)
                return _of_stored(stored)
        return await self.refresh_metrics(run_id)

    async def refresh_metrics(self, run_id: uuid.UUID) -> ComputedMetrics:
        """A running run's summaries, computed now and stored (what the worker does when a
        reader asked)."""
        computed = ComputedMetrics(await self.live_metrics(run_id), datetime.now(UTC))
        await self._store(run_id, computed, final=False)
        return computed

    async def final_metrics(self, run_id: uuid.UUID) -> ComputedMetrics:
        """An ended run's summaries, computed and stored unless another transaction stored
        them first. No task of the run is written meanwhile (TaskRepository.lock_metrics):
        what is stored is what the tasks hold until the next write deletes it."""
        await self.tasks.lock_metrics(run_id)
        stored = await self.tasks.stored_metrics(run_id)
        if stored is not None and stored.final:
            return _of_stored(stored)
        computed = ComputedMetrics(await self.live_metrics(run_id), datetime.now(UTC))
        await self._store(run_id, computed, final=True)
        return computed

    async def _store(self, run_id: uuid.UUID, computed: ComputedMetrics, *, final: bool) -> None:
        processes = STORED_PROCESSES.dump_python(computed.processes, mode="json")
        await self.tasks.store_metrics(
            run_id, processes, final=final, computed_at=computed.computed_at
        )

    async def live_metrics(self, run_id: uuid.UUID) -> list[ProcessMetrics]:
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


def _of_stored(stored: StoredRunMetrics) -> ComputedMetrics:
    return ComputedMetrics(STORED_PROCESSES.validate_python(stored.processes), stored.computed_at)


class TaskFileService:
    """A task's detail and its work-dir files, as the worker shipped them (the API never reads
    a work dir). Like TaskService, it knows nothing of runs: the caller checks the run."""

    def __init__(self, session: AsyncSession) -> None:
        self.files = TaskFileRepository(session)

    async def task(self, run_id: uuid.UUID, task_id: int) -> Task:
        task = await self.files.task(run_id, task_id)
        if task is None:
            raise TaskNotFound(
                f"The run has no task {task_id}; GET /runs/{run_id}/tasks lists its tasks "
                "(task_id is Nextflow's task id)."
            )
        return task

    async def failing_task(self, run_id: uuid.UUID) -> Task | None:
        return await self.files.failing_task(run_id)

    async def detail(self, run_id: uuid.UUID, task_id: int) -> TaskDetail:
        task = await self.task(run_id, task_id)
        fetch = await self.files.fetch(run_id, task_id)
        files = await self.files.files(run_id, task_id)
        trace = task.trace or {}
        script = trace.get("script")
        time_ms, disk = trace.get("time"), trace.get("disk")
        queue = trace.get("queue")
        return TaskDetail.model_validate(
            {
                **TaskRead.model_validate(task).model_dump(),
                "script": script if isinstance(script, str) else None,
                "requested": TaskRequested(
                    cpus=task.cpus,
                    memory=task.memory,
                    time_ms=task.time_ms
                    if task.time_ms is not None
                    else time_ms if isinstance(time_ms, int) else None,
                    disk=disk if isinstance(disk, int) else None,
                    queue=queue if isinstance(queue, str) else None,
                ),
                "used": TaskUsed(
                    realtime_ms=task.realtime_ms,
                    cpu_percent=task.cpu_percent,
                    peak_rss=task.peak_rss,
                    peak_vmem=task.peak_vmem,
                    read_bytes=task.read_bytes,
                    write_bytes=task.write_bytes,
                    memory_percent=_ratio(task.peak_rss, task.memory),
                    cpu_percent_of_requested=_ratio(
                        task.cpu_percent, task.cpus * 100 if task.cpus else None
                    ),
                ),
                "files_state": fetch.state if fetch is not None else "none",
                "files_detail": fetch.detail if fetch is not None else None,
                "files": [TaskFileInfo.model_validate(file) for file in files],
            }
        )  # fmt: skip

    async def read(
        self,
        run_id: uuid.UUID,
        task_id: int,
        file: TaskFileName,
        *,
        offset: int,
        limit: int,
        refresh: bool,
        unreadable: str | None,
    ) -> TaskFileText | TaskFilesPending:
        """The shipped text of one file, or the pending request for it (made now when there is
        none: the run's worker ships it). ``unreadable``: why no worker can read the run's
        work dirs (then only what was shipped is there)."""
        task = await self.task(run_id, task_id)
        fetch = await self.files.fetch(run_id, task_id)
        ended = task.status in TERMINAL_STATUSES
        shipped = fetch is not None and fetch.state == "shipped"
        if shipped and not (refresh and not ended):
            page = await self.files.page(run_id, task_id, file, offset=offset, limit=limit)
            if page is not None:
                return page
        if fetch is not None and fetch.state == "gone" and not refresh:
            raise TaskFilesGone(
                f"Task {task_id}'s files were never shipped and cannot be read now: {fetch.detail}"
            )
        if unreadable is not None:
            raise TaskFilesGone(f"Task {task_id}'s files were never shipped: {unreadable}")
        if task.workdir is None:
            raise TaskFilesGone(f"Nextflow reported no work dir for task {task_id} (yet).")
        again = refresh or (fetch is not None and fetch.state != "pending")
        fetch = await self.files.request(run_id, task_id, again=again)
        waited = datetime.now(UTC) - fetch.requested_at
        if waited > UNSERVED_AFTER:
            raise TaskFilesNotRead(
                f"Task {task_id}'s files were asked for {int(waited.total_seconds())} s ago and "
                "no worker has read them: the worker that runs the run (its host's, for the "
                "local backend) must be running. The request stays; ask again later.",
                headers={"Retry-After": "30"},
            )
        return TaskFilesPending(
            detail=f"A worker is reading task {task_id}'s files from {task.workdir}; ask "
            f"again in {RETRY_AFTER_SECONDS} s.",
            requested_at=fetch.requested_at,
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )

    async def stderr_tail(self, run_id: uuid.UUID, task_id: int, *, lines: int) -> list[str]:
        """The last ``lines`` lines of the task's shipped stderr (empty when not shipped)."""
        chars = lines * TAIL_LINE_CHARS
        text = await self.files.tail(run_id, task_id, "stderr", chars=chars)
        if not text:
            return []
        kept = text.rstrip("\n").split("\n")
        if len(text) == chars and len(kept) > 1:
            kept = kept[1:]  # the cut may have fallen inside the first line
        return kept[-lines:]
