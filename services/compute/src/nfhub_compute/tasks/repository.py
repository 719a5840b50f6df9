from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    not_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.orm import load_only

from nfhub_compute.models import (
    Run,
    StoredRunMetrics,
    Task,
    TaskFile,
    TaskFileFetch,
    worker_scope,
)
from nfhub_compute.models.task import METRIC_WHERE
from nfhub_compute.tasks.schemas import TaskFileText, TaskFilter
from nfhub_shared.db.repository import Repository
from nfhub_shared.db.session import AsyncSession

MERGED_COLUMNS = (
    "hash", "name", "process", "tag", "native_id", "exit_status", "attempt", "error_action",
    "workdir", "container", "hostname", "cpus", "memory", "time_ms", "submit_at", "start_at",
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


def _double(column: Any) -> ColumnElement[float]:
    return cast(column, Float)


# Constants as literals: the statement's one parameter is the run.
ZERO: ColumnElement[int] = literal_column("0")
ONE: ColumnElement[int] = literal_column("1")
HUNDRED: ColumnElement[float] = literal_column("100.0")
# GET /runs/{id}/metrics: each series of a process's tasks, as double precision. The usage
# series are Nextflow's report's (ReportSummary): a task without the value or the request (or
# with 0 of either) has none; a task that asked for no cpus asked for one.
METRIC_SERIES: dict[str, ColumnElement[float]] = {
    "cpu_percent": _double(Task.cpu_percent),
    "peak_rss": _double(Task.peak_rss),
    "realtime_ms": _double(Task.realtime_ms),
    "read_bytes": _double(Task.read_bytes),
    "write_bytes": _double(Task.write_bytes),
    "cpu_usage": case(
        (
            Task.cpu_percent > ZERO,
            _double(Task.cpu_percent) / _double(func.coalesce(func.nullif(Task.cpus, ZERO), ONE)),
        )
    ),
    "memory_usage": case(
        (
            (Task.peak_rss > ZERO) & (Task.memory > ZERO),
            _double(Task.peak_rss) * HUNDRED / _double(Task.memory),
        )
    ),
    "time_usage": case(
        (
            (Task.realtime_ms > ZERO) & (Task.time_ms > ZERO),
            _double(Task.realtime_ms) * HUNDRED / _double(Task.time_ms),
        )
    ),
}
# min, q1, median, q3, max in one sort of the series' values.
FIVE_NUMBERS = literal_column("ARRAY[0, 0.25, 0.5, 0.75, 1]::float8[]", type_=ARRAY(Float))


def _metrics_statement() -> Any:
    """Per process: the tasks counted, then per series its count, sum and five numbers
    (percentile_cont: one sort of the series' values, nulls left out). Three aggregates a
    series, the cheapest that give them all: avg's transition (which keeps the variance
    too) and separate min and max cost more than the mean's sum / count and the 0th and 100th
    percentiles of the sort percentile_cont makes anyway. One range scan of
    ix_tasks_run_id_process_status (the statuses an index condition), in the grouping's
    order: nothing to sort but the series' values."""
    columns: list[Any] = [Task.process, func.count().label("tasks")]
    for name, value in METRIC_SERIES.items():
        columns += [
            func.count(value).label(f"{name}_count"),
            func.sum(value).label(f"{name}_sum"),
            func.percentile_cont(FIVE_NUMBERS).within_group(value).label(f"{name}_numbers"),
        ]
    return (
        select(*columns)
        .where(Task.run_id == bindparam("run_id"), text(METRIC_WHERE))
        .group_by(Task.process)
        .order_by(Task.process)
    )


METRICS = _metrics_statement()
METRICS_WORK_MEM = "64MB"


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


def merge_on_conflict(statement: Any) -> Any:
    """``statement`` (an INSERT into tasks) merging into an existing row by status rank.

    The higher status rank wins, gaps are filled from the other row: the same rows in any
    order, any number of times, give the same result.
    """
    table = Task.__table__
    new = statement.excluded
    newer: ColumnElement[bool] = new.status_rank >= table.c.status_rank
    merged: dict[str, Any] = {
        name: case(
            (newer, func.coalesce(new[name], table.c[name])),
            else_=func.coalesce(table.c[name], new[name]),
        )
        for name in MERGED_COLUMNS
    }
    merged["status"] = case((newer, new.status), else_=table.c.status)
    merged["status_rank"] = func.greatest(new.status_rank, table.c.status_rank)
    merged["trace"] = case(
        (newer, table.c.trace.op("||")(new.trace)), else_=new.trace.op("||")(table.c.trace)
    )
    merged["updated_at"] = func.now()
    return statement.on_conflict_do_update(
        index_elements=[table.c.run_id, table.c.task_id], set_=merged
    )


ROW_COLUMNS = ("task_id", "status", "status_rank", *MERGED_COLUMNS, "trace")
# Built once, so their compiled forms are cached. UPSERT_TASKS takes rows (executemany);
# UPSERT_TASK_PARAMS names its values ``task_<column>``, for use inside a larger statement.
UPSERT_TASKS = merge_on_conflict(insert(Task.__table__))  # type: ignore[arg-type]
UPSERT_TASK_PARAMS = merge_on_conflict(
    insert(Task.__table__).values(  # type: ignore[arg-type]
        {
            name: bindparam(f"task_{name}", type_=Task.__table__.c[name].type)
            for name in ("run_id", *ROW_COLUMNS)
        }
    )
)


def _unnest_statement() -> Any:
    """UPSERT_TASKS with its rows as one array per column (``INSERT ... SELECT FROM
    unnest(...)``): one statement of a fixed 29 parameters for any number of rows, where
    executemany binds and sends every row's 29 (a fraction of the time per row, bench/compute.py).
    The trace goes as text and becomes jsonb in the database."""
    table = Task.__table__
    names = ("run_id", *ROW_COLUMNS)
    arrays = [
        bindparam(f"rows_{name}", type_=ARRAY(Text if name == "trace" else table.c[name].type))
        for name in names
    ]
    rows = func.unnest(*arrays).table_valued(*names).render_derived(name="row_values")
    columns = [cast(rows.c.trace, JSONB) if name == "trace" else rows.c[name] for name in names]
    # Rows of a run that is not there are left out: the events of many requests share one
    # statement (events.writer), and one stale URL must not fail the others' with a foreign key.
    runs = Run.__table__
    # Ordered: concurrent upserts of the same tasks lock them in the same order (a join may
    # hand rows on in any order, and two batches would then deadlock).
    source = (
        select(*columns)
        .select_from(rows.join(runs, runs.c.id == rows.c.run_id))
        .order_by(rows.c.run_id, rows.c.task_id)
    )
    return merge_on_conflict(insert(table).from_select(names, source))  # type: ignore[arg-type]


UPSERT_TASKS_UNNEST = _unnest_statement()


def unnest_parameters(rows: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """UPSERT_TASKS_UNNEST's parameters for rows of upsert_parameters (one per task)."""
    parameters: dict[str, list[Any]] = {f"rows_{name}": [] for name in ("run_id", *ROW_COLUMNS)}
    for row in rows:
        for name in ("run_id", *ROW_COLUMNS):
            value = row[name]
            if name == "trace":
                value = json.dumps(value, separators=(",", ":"), default=str)
            parameters[f"rows_{name}"].append(value)
    return parameters


def upsert_parameters(run_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """UPSERT_TASKS's parameters for a batch of task rows (one per task: see merge_rows)."""
    return [
        {"run_id": run_id, **{name: row.get(name) for name in ROW_COLUMNS}}
        for row in merge_rows(rows)
    ]


class TaskRepository(Repository[Task]):
    model = Task

    async def upsert(self, run_id: uuid.UUID, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or merge tasks by (run, task id); see UPSERT_TASKS."""
        if not rows:
            return
        await self.session.execute(UPSERT_TASKS, upsert_parameters(run_id, rows))

    async def counts(self, run_id: uuid.UUID) -> list[tuple[str, str, int]]:
        """(process, status, tasks) for a run: an index-only scan of (run_id, process, status)."""
        rows = await self.session.execute(
            select(Task.process, Task.status, func.count())
            .where(Task.run_id == run_id)
            .group_by(Task.process, Task.status)
            .order_by(Task.process)
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def counts_of_runs(
        self, run_ids: Sequence[uuid.UUID]
    ) -> list[tuple[uuid.UUID, str, int]]:
        """(run, status, tasks) for several runs at once: one grouped query for a page."""
        if not run_ids:
            return []
        rows = await self.session.execute(
            select(Task.run_id, Task.status, func.count())
            .where(Task.run_id.in_(run_ids))
            .group_by(Task.run_id, Task.status)
        )
        return [(row[0], row[1], int(row[2])) for row in rows]

    async def metrics(self, run_id: uuid.UUID) -> list[dict[str, Any]]:
        """Each process's series (see METRICS): ``{"process", "tasks", "<series>_count",
        "<series>_sum", "<series>_numbers": [min, q1, median, q3, max]}``."""
        # The grouping wants the run's ended tasks in process order. The index gives them so,
        # but where one run holds much of the table the planner may rather read them unordered
        # and sort them (some 10 MB at 100,000 tasks): in memory then, not on disk (the
        # default work_mem is 4 MB). For this transaction only.
        await self.session.execute(text(f"SET LOCAL work_mem = '{METRICS_WORK_MEM}'"))
        rows = await self.session.execute(METRICS, {"run_id": run_id})
        return [dict(row._mapping) for row in rows]

    async def stored_metrics(self, run_id: uuid.UUID) -> StoredRunMetrics | None:
        """The run's summaries as last stored (read anew: another transaction may have just
        stored them)."""
        statement = (
            select(StoredRunMetrics)
            .where(StoredRunMetrics.run_id == run_id)
            .execution_options(populate_existing=True)
        )
        return await self.session.scalar(statement)

    async def lock_metrics(self, run_id: uuid.UUID) -> None:
        """Until this transaction ends, no statement writes the run's tasks (each takes the
        lock shared, in a trigger; migration 0014): taken before computing summaries to
        store as final, it waits for the writers in flight, and a write after it waits for
        the stored row, then deletes it."""
        await self.session.execute(
            select(func.pg_advisory_xact_lock(func.compute.run_metrics_lock_key(run_id)))
        )

    async def store_metrics(
        self,
        run_id: uuid.UUID,
        processes: list[dict[str, Any]],
        *,
        final: bool,
        computed_at: datetime,
    ) -> None:
        """Keep the run's summaries; a running run's never replace an ended run's (a reader
        that began before the end may store after it)."""
        statement = insert(StoredRunMetrics).values(
            run_id=run_id, final=final, processes=processes, computed_at=computed_at
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[StoredRunMetrics.run_id],
                set_={
                    "final": statement.excluded.final,
                    "processes": statement.excluded.processes,
                    "computed_at": statement.excluded.computed_at,
                    "refresh_requested_at": None,
                },
                where=statement.excluded.final | not_(StoredRunMetrics.final),
            )
        )

    async def request_metrics_refresh(self, run_id: uuid.UUID, now: datetime) -> None:
        """Ask the worker to compute a running run's summaries anew (once: a request already
        pending stays as it is)."""
        await self.session.execute(
            update(StoredRunMetrics)
            .where(
                StoredRunMetrics.run_id == run_id,
                not_(StoredRunMetrics.final),
                StoredRunMetrics.refresh_requested_at.is_(None),
            )
            .values(refresh_requested_at=now)
        )

    async def metrics_to_refresh(self, *, limit: int) -> list[uuid.UUID]:
        """Runs whose summaries a reader asked for anew, the longest waiting first."""
        rows = await self.session.scalars(
            select(StoredRunMetrics.run_id)
            .where(StoredRunMetrics.refresh_requested_at.is_not(None))
            .order_by(StoredRunMetrics.refresh_requested_at)
            .limit(limit)
        )
        return list(rows)

    async def first_seen(self, run_id: uuid.UUID) -> datetime | None:
        """When the run's first task was submitted or started: the workflow had begun by then."""
        first = await self.session.scalar(
            select(func.least(func.min(Task.submit_at), func.min(Task.start_at))).where(
                Task.run_id == run_id
            )
        )
        return first if isinstance(first, datetime) else None

    async def list_for_run(
        self, run_id: uuid.UUID, task_filter: TaskFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Task], int]:
        statement = select(Task).where(Task.run_id == run_id)
        if task_filter.statuses:
            statement = statement.where(Task.status.in_(task_filter.statuses))
        if task_filter.process is not None:
            statement = statement.where(Task.process == task_filter.process)
        column = SORTABLE[task_filter.sort]
        ordering = (
            column.desc().nulls_last() if task_filter.descending else column.asc().nulls_last()
        )
        statement = statement.order_by(ordering, Task.task_id)
        return await self.paginate(statement, limit=limit, offset=offset)


# A failed task's files first when several failed: the one that ended the run (TERMINATE,
# FINISH), then the latest.
ENDED_THE_RUN = case((Task.error_action.in_(("TERMINATE", "FINISH")), 0), else_=1)


class TaskFileRepository:
    """Tasks' shipped work-dir files and the requests for them (models/task_file.py)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def task(self, run_id: uuid.UUID, task_id: int) -> Task | None:
        return await self.session.get(Task, (run_id, task_id))

    async def failing_task(self, run_id: uuid.UUID) -> Task | None:
        """The failed task that ended the run, else its latest failed task (run, status index)."""
        statement = (
            select(Task)
            .where(Task.run_id == run_id, Task.status == "FAILED")
            .order_by(ENDED_THE_RUN, Task.complete_at.desc().nulls_last(), Task.task_id.desc())
            .limit(1)
        )
        return (await self.session.scalars(statement)).first()

    async def fetch(self, run_id: uuid.UUID, task_id: int) -> TaskFileFetch | None:
        return await self.session.get(TaskFileFetch, (run_id, task_id))

    async def request(self, run_id: uuid.UUID, task_id: int, *, again: bool) -> TaskFileFetch:
        """A pending request for the task's files (kept as it is when one exists, unless
        ``again``: then a shipped or gone one is asked anew)."""
        statement = insert(TaskFileFetch).values(run_id=run_id, task_id=task_id, state="pending")
        if again:
            statement = statement.on_conflict_do_update(
                index_elements=[TaskFileFetch.run_id, TaskFileFetch.task_id],
                set_={"state": "pending", "detail": None, "requested_at": func.now(),
                      "done_at": None},
                where=TaskFileFetch.state != "pending",
            )  # fmt: skip
        else:
            statement = statement.on_conflict_do_nothing()
        await self.session.execute(statement)
        fetch = await self.session.get(TaskFileFetch, (run_id, task_id), populate_existing=True)
        assert fetch is not None
        return fetch

    async def files(self, run_id: uuid.UUID, task_id: int) -> Sequence[TaskFile]:
        """The task's shipped files, without their text."""
        statement = (
            select(TaskFile)
            .options(
                load_only(
                    TaskFile.file,
                    TaskFile.size,
                    TaskFile.truncated,
                    TaskFile.shipped_at,
                    raiseload=True,
                )
            )
            .where(TaskFile.run_id == run_id, TaskFile.task_id == task_id)
            .order_by(TaskFile.file)
        )
        return (await self.session.scalars(statement)).all()

    async def page(
        self, run_id: uuid.UUID, task_id: int, file: str, *, offset: int, limit: int
    ) -> TaskFileText | None:
        """Characters ``offset`` to ``offset + limit`` of a shipped file (cut by the database)."""
        row = (
            await self.session.execute(
                select(
                    func.substr(TaskFile.content, offset + 1, limit),
                    func.char_length(TaskFile.content),
                    TaskFile.size,
                    TaskFile.truncated,
                    TaskFile.shipped_at,
                ).where(
                    TaskFile.run_id == run_id, TaskFile.task_id == task_id, TaskFile.file == file
                )
            )
        ).first()
        if row is None:
            return None
        text, length, size, truncated, shipped_at = row
        return TaskFileText(text, offset, int(length), int(size), bool(truncated), shipped_at)

    async def tail(self, run_id: uuid.UUID, task_id: int, file: str, *, chars: int) -> str | None:
        """The last ``chars`` characters of a shipped file."""
        text = await self.session.scalar(
            select(func.right(TaskFile.content, chars)).where(
                TaskFile.run_id == run_id, TaskFile.task_id == task_id, TaskFile.file == file
            )
        )
        return text if isinstance(text, str) else None

    # -- the worker's side ------------------------------------------------------------------

    async def unshipped_failed(
        self, run_id: uuid.UUID, *, limit: int
    ) -> list[tuple[int, str | None]]:
        """(task id, work dir) of the run's failed tasks whose files were never read."""
        done = (
            select(TaskFileFetch.task_id)
            .where(
                TaskFileFetch.run_id == Task.run_id,
                TaskFileFetch.task_id == Task.task_id,
                TaskFileFetch.state != "pending",
            )
            .exists()
        )
        rows = await self.session.execute(
            select(Task.task_id, Task.workdir)
            .where(Task.run_id == run_id, Task.status == "FAILED", ~done)
            .order_by(ENDED_THE_RUN, Task.task_id)
            .limit(limit)
        )
        return [(int(task_id), workdir) for task_id, workdir in rows]

    async def count_shipped(self, run_id: uuid.UUID) -> int:
        """Tasks of the run whose files were read (shipped or found gone)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(TaskFileFetch)
            .where(TaskFileFetch.run_id == run_id, TaskFileFetch.state != "pending")
        )
        return int(count or 0)

    async def pending(
        self, *, owned_by: str | None, host_bound: Sequence[str], limit: int
    ) -> list[tuple[Run, int, str | None]]:
        """(run, task id, work dir) of the oldest requests a worker may serve: with
        ``owned_by``, those of the ``host_bound`` backends' runs that host owns; without, the
        others (as RunRepository.live divides runs)."""
        statement = (
            select(Run, TaskFileFetch.task_id, Task.workdir)
            .join(Run, Run.id == TaskFileFetch.run_id)
            .join(
                Task,
                and_(Task.run_id == TaskFileFetch.run_id, Task.task_id == TaskFileFetch.task_id),
            )
            .where(TaskFileFetch.state == "pending", worker_scope(owned_by, host_bound))
            .order_by(TaskFileFetch.requested_at)
            .limit(limit)
        )
        rows = await self.session.execute(statement)
        return [(run, int(task_id), workdir) for run, task_id, workdir in rows]

    async def store(
        self, run_id: uuid.UUID, task_id: int, files: Mapping[str, tuple[str, int, bool]]
    ) -> None:
        """The task's files as read now, name → (text, size, truncated); the request done."""
        if files:
            statement = insert(TaskFile).values(
                [
                    {
                        "run_id": run_id,
                        "task_id": task_id,
                        "file": name,
                        "content": text,
                        "size": size,
                        "truncated": truncated,
                    }
                    for name, (text, size, truncated) in files.items()
                ]
            )
            await self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[TaskFile.run_id, TaskFile.task_id, TaskFile.file],
                    set_={
                        "content": statement.excluded.content,
                        "size": statement.excluded.size,
                        "truncated": statement.excluded.truncated,
                        "shipped_at": func.now(),
                    },
                )
            )
        await self._done(run_id, task_id, "shipped", None)

    async def gone(self, run_id: uuid.UUID, task_id: int, detail: str) -> None:
        await self._done(run_id, task_id, "gone", detail)

    async def _done(self, run_id: uuid.UUID, task_id: int, state: str, detail: str | None) -> None:
        statement = insert(TaskFileFetch).values(
            run_id=run_id, task_id=task_id, state=state, detail=detail, done_at=func.now()
        )
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[TaskFileFetch.run_id, TaskFileFetch.task_id],
                set_={"state": state, "detail": detail, "done_at": func.now()},
            )
        )
