from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Text,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert

from nfhub_compute.models import Run, Task
from nfhub_compute.models.task import METRIC_WHERE
from nfhub_compute.tasks.schemas import TaskFilter
from nfhub_shared.db.repository import Repository

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
