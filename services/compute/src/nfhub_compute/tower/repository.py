"""The Tower runs, and a progress batch written in two statements (PROGRESS_TASKS, then
PROGRESS_RUN).

A progress call of Nextflow's is up to 100 task records and the run's counters. Python
validates the body's shape, reads the task dates and makes each record's trace (its keys as
the weblog's: ``tower.parsing``); the traces go to PostgreSQL as one JSON parameter, where
they are mapped to task rows (the same columns and rules as ``events.parsing.task_values``),
merged per task and upserted in one statement, where mapping each record in Python and
binding 28 arrays cost most of a request (bench/compute.py); the run is noted alive with its
counters kept in the next.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Integer,
    SmallInteger,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    literal_column,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert

from nfhub_compute.events.parsing import (
    INT32,
    INT64,
    MAX_TEXT_CHARS,
    TASK_STATUS_RANK,
    UNSET_EXIT,
)
from nfhub_compute.events.repository import (
    DriverStatement,
    EventsConnection,
    _heard_from,
    _waking,
)
from nfhub_compute.models import Run, Task
from nfhub_compute.tasks.repository import MERGED_COLUMNS, ROW_COLUMNS, merge_on_conflict
from nfhub_compute.tower.parsing import DATE_FIELDS
from nfhub_shared.db.repository import Repository

WHITESPACE = r"[ \t\n\r\f\v]*"
# What Python's int(float(text)) and float(text) read, as far as a column can hold it: decimal
# digits, a point, an exponent of up to 3 digits (PostgreSQL's numeric takes no more).
NUMBER = rf"^{WHITESPACE}[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{{1,3}})?{WHITESPACE}"
PERCENT = f"{NUMBER}%*$"
NUMBER = f"{NUMBER}$"


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _integer(field: str, limit: int) -> str:
    """events.parsing._int bounded to ``limit`` (_int32, _int64): a JSON number truncated, a
    string holding a number, else NULL (NaN, infinity, out of range, anything else). Plain
    digits, what Nextflow sends, are read as text; only the others go through numeric."""
    value, textual = f"t.t -> {_quote(field)}", f"t.t ->> {_quote(field)}"
    bounds = f"BETWEEN {-limit - 1} AND {limit}"
    plain = (  # 18 digits fit in a bigint
        f"({textual})::bigint"
        if limit == INT64
        else f"CASE WHEN ({textual})::bigint {bounds} THEN ({textual})::bigint END"
    )
    return (
        f"CASE WHEN {textual} ~ '^-?[0-9]{{1,18}}$' THEN {plain}"
        f" ELSE CASE jsonb_typeof({value})"
        f" WHEN 'number' THEN CASE WHEN trunc(({value})::numeric) {bounds}"
        f" THEN trunc(({value})::numeric)::bigint END"
        f" WHEN 'string' THEN CASE WHEN {textual} ~ {_quote(NUMBER)}"
        f" AND trunc(({textual})::numeric) {bounds}"
        f" THEN trunc(({textual})::numeric)::bigint END END END"
    )


def _float(field: str) -> str:
    """events.parsing._float without NaN and infinity: a number (a string's ``%`` dropped)
    PostgreSQL's double precision holds, else NULL. Short decimals are read as text."""
    value, textual = f"t.t -> {_quote(field)}", f"rtrim(t.t ->> {_quote(field)}, '%')"
    fits = "BETWEEN -1e308 AND 1e308 AND (({0}) = 0 OR abs({0}) > 1e-307)"
    number, from_text = f"({value})::numeric", f"({textual})::numeric"
    return (
        f"CASE WHEN {textual} ~ '^-?[0-9]{{1,15}}(\\.[0-9]{{1,15}})?$' THEN ({textual})::float8"
        f" ELSE CASE jsonb_typeof({value})"
        f" WHEN 'number' THEN CASE WHEN {number} {fits.format(number)} THEN {number}::float8 END"
        f" WHEN 'string' THEN CASE WHEN (t.t ->> {_quote(field)}) ~ {_quote(PERCENT)}"
        f" AND {from_text} {fits.format(from_text)} THEN {from_text}::float8 END END END"
    )


def _text(field: str, limit: int = 500) -> str:
    """events.parsing._text: the value as text, cut to ``limit``; NULL for null, "" and "-"."""
    return f"nullif(nullif(left(t.t ->> {_quote(field)}, {limit}), ''), '-')"


def _time(field: str) -> str:
    """A task date column from the milliseconds tower.parsing.progress_times read."""
    return f"timestamptz 'epoch' + (CAST(:{field}_at AS bigint[]))[t.n] * interval '1 ms'"


STATUS = "upper(btrim(t.t ->> 'status', E' \\t\\n\\r\\f\\v'))"
RANK = " ".join(f"WHEN {_quote(name)} THEN {rank}" for name, rank in TASK_STATUS_RANK.items())


# One row per trace naming a task (tower.parsing.progress_traces: the records' traces, their
# keys as the weblog's), as events.parsing.task_values maps a trace.
MAPPED = f"""
SELECT t.n, m.*
FROM jsonb_array_elements(CAST(:traces AS jsonb)) WITH ORDINALITY AS t (t, n),
LATERAL (SELECT {_integer("task_id", INT64)} AS task_id, {STATUS} AS status,
                {_text("name", MAX_TEXT_CHARS)} AS name) AS k,
LATERAL (SELECT
    k.task_id,
    CASE WHEN k.status IN ({", ".join(map(_quote, TASK_STATUS_RANK))}) THEN k.status
         ELSE 'NEW' END AS status,
    CASE k.status {RANK} ELSE 0 END AS status_rank,
    {_text("hash", 64)} AS hash,
    k.name,
    left(coalesce({_text("process")}, nullif(split_part(k.name, ' (', 1), ''), 'unknown'), 500)
        AS process,
    {_text("tag", MAX_TEXT_CHARS)} AS tag,
    {_text("native_id", 200)} AS native_id,
    nullif({_integer("exit", INT32)}, {UNSET_EXIT}) AS exit_status,
    {_integer("attempt", INT32)} AS attempt,
    {_text("error_action", 16)} AS error_action,
    {_text("workdir", MAX_TEXT_CHARS)} AS workdir,
    {_text("container", MAX_TEXT_CHARS)} AS container,
    {_text("hostname", 255)} AS hostname,
    {_integer("cpus", INT32)} AS cpus,
    {_integer("memory", INT64)} AS memory,
    {_integer("time", INT64)} AS time_ms,
    {_time("submit")} AS submit_at,
    {_time("start")} AS start_at,
    {_time("complete")} AS complete_at,
    {_integer("duration", INT64)} AS duration_ms,
    {_integer("realtime", INT64)} AS realtime_ms,
    {_float("%cpu")} AS cpu_percent,
    {_integer("peak_rss", INT64)} AS peak_rss,
    {_integer("peak_vmem", INT64)} AS peak_vmem,
    {_integer("read_bytes", INT64)} AS read_bytes,
    {_integer("write_bytes", INT64)} AS write_bytes,
    t.t AS trace
) AS m
WHERE k.task_id >= 0
"""  # noqa: S608 - built once from this module's constants, not input
# A task named twice in a batch: merged as tasks.repository.merge_rows merges, the higher
# status rank (then the later record) winning, gaps filled from the others.
_LATEST = "ORDER BY status_rank DESC, n DESC"
_MERGED = ",\n".join(
    f"(array_agg({name} {_LATEST}) FILTER (WHERE {name} IS NOT NULL))[1] AS {name}"
    for name in MERGED_COLUMNS
)
ROWS = f"""
WITH mapped AS MATERIALIZED ({MAPPED}),
counted AS (SELECT *, count(*) OVER (PARTITION BY task_id) AS copies FROM mapped)
SELECT {", ".join(ROW_COLUMNS)} FROM counted WHERE copies = 1
UNION ALL
SELECT task_id, (array_agg(status {_LATEST}))[1] AS status, max(status_rank) AS status_rank,
    {_MERGED},
    (SELECT coalesce(jsonb_object_agg(e.key, e.value ORDER BY c.status_rank, c.n), '{{}}')
     FROM counted AS c, jsonb_each(c.trace) AS e WHERE c.task_id = g.task_id) AS trace
FROM counted AS g WHERE copies > 1 GROUP BY task_id
"""  # noqa: S608 - built once from this module's constants, not input
_TYPES: dict[str, Any] = {
    "task_id": BigInteger, "status": String, "status_rank": SmallInteger, "hash": String,
    "name": Text, "process": String, "tag": Text, "native_id": String, "exit_status": Integer,
    "attempt": Integer, "error_action": String, "workdir": Text, "container": Text,
    "hostname": String, "cpus": Integer, "memory": BigInteger, "time_ms": BigInteger,
    "submit_at": DateTime(timezone=True), "start_at": DateTime(timezone=True),
    "complete_at": DateTime(timezone=True), "duration_ms": BigInteger,
    "realtime_ms": BigInteger, "cpu_percent": Float, "peak_rss": BigInteger,
    "peak_vmem": BigInteger, "read_bytes": BigInteger, "write_bytes": BigInteger, "trace": JSONB,
}  # fmt: skip


def _progress_statements() -> tuple[Any, Any]:
    """PROGRESS_TASKS: the run (by workflow id, in the caller's project or the caller's own)
    and its tasks upserted in task order; answers the run's id (no row: no such run, and
    nothing written). PROGRESS_RUN: that run noted alive (INITIALIZING/UNKNOWN → RUNNING)
    and its counters kept unless newer ones are there (by the client's instant).

    Two statements, each its own transaction on the autocommit events engine, the run's
    last: nearly every call brings new counters, so nearly every call locks the run row,
    and a lock taken in the tasks' statement (PostgreSQL runs an unreferenced data-modifying
    CTE after the main statement) was held through the upsert and its feed trigger: one
    run's calls wrote one at a time (a third of the rate, bench/compute.py). The run's
    statement holds it for one row's update."""
    runs = Run.__table__
    project_id: Any = bindparam("caller_project_id", type_=Uuid())
    run_id: Any = bindparam("caller_run_id", type_=Uuid())
    run = (
        select(runs.c.id)
        .where(
            runs.c.tower_workflow_id == bindparam("caller_workflow_id", type_=String()),
            or_(project_id.is_(None), runs.c.project_id == project_id),
            or_(run_id.is_(None), runs.c.id == run_id),
        )
        .cte("run")
    )
    rows = (
        text(ROWS)
        .bindparams(
            bindparam("traces", type_=Text()),
            *(bindparam(f"{field}_at", type_=ARRAY(BigInteger)) for field in DATE_FIELDS),
        )
        .columns(*(literal_column(name, _TYPES[name]) for name in ROW_COLUMNS))
        .subquery("task_rows")
    )
    names = ("run_id", *ROW_COLUMNS)
    source = (
        select(run.c.id, *(rows.c[name] for name in ROW_COLUMNS))
        .select_from(rows.join(run, true()))
        .order_by(rows.c.task_id)
    )
    upserted = merge_on_conflict(
        insert(Task.__table__).from_select(names, source, include_defaults=False)  # type: ignore[arg-type]
    )
    tasks = select(run.c.id).add_cte(upserted.returning(literal_column("1")).cte("upserted"))
    now: Any = bindparam("now", type_=DateTime(timezone=True))
    progress: Any = cast(bindparam("progress", type_=Text()), JSONB)
    instant: Any = bindparam("instant", type_=BigInteger())
    waking = _waking(runs.c)
    touch = or_(
        waking,
        runs.c.last_event_at.is_(None),
        runs.c.last_event_at < bindparam("stale", type_=DateTime(timezone=True)),
    )
    newer = and_(
        progress.is_not(None),
        or_(runs.c.progress_instant.is_(None), runs.c.progress_instant <= instant),
    )
    values: dict[str, Any] = {
        name: case((touch, value), else_=runs.c[name])
        for name, value in _heard_from(now, waking).items()
    }
    values.update(
        updated_at=now,
        progress=case((newer, progress), else_=runs.c.progress),
        progress_instant=case((newer, instant), else_=runs.c.progress_instant),
    )
    noted = (
        update(runs)  # type: ignore[arg-type]
        .where(runs.c.id == bindparam("run_id", type_=Uuid()), or_(touch, newer))
        .values(values)
    )
    return tasks, noted


PROGRESS_TASKS, PROGRESS_RUN = _progress_statements()
PROGRESS_TASKS_DRIVER = DriverStatement(PROGRESS_TASKS)
PROGRESS_RUN_DRIVER = DriverStatement(PROGRESS_RUN)


class TowerRunRepository(Repository[Run]):
    model = Run

    async def by_workflow_id(self, workflow_id: str, *, for_update: bool = False) -> Run | None:
        statement = select(Run).where(Run.tower_workflow_id == workflow_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def external_by_session(
        self, project_id: uuid.UUID, session_id: str, run_name: str
    ) -> Run | None:
        """The external run a create with this session and run name made (a replayed create)."""
        return await self.session.scalar(
            select(Run).where(
                Run.project_id == project_id,
                Run.source == "external",
                Run.session_id == session_id,
                Run.name == run_name,
            )
        )


class TowerProgressRepository:
    """A progress batch on a connection of the autocommit events engine (two statements,
    each its own transaction: PROGRESS_TASKS, PROGRESS_RUN) or, in tests, a session."""

    def __init__(self, connection: EventsConnection) -> None:
        self.connection = connection

    async def report(
        self,
        workflow_id: str,
        *,
        project_id: uuid.UUID | None,
        run_id: uuid.UUID | None,
        traces: str,
        times: dict[str, list[int | None]],
        progress: str | None,
        instant: int,
        now: datetime,
        stale: datetime,
    ) -> uuid.UUID | None:
        """Write the batch; the run's id, None when the caller has no such run (nothing
        written then). ``traces``: the records' traces as a JSON array
        (tower.parsing.progress_traces), ``times``: their dates (tower.parsing.progress_times),
        ``progress``: the counters as JSON."""
        run = await PROGRESS_TASKS_DRIVER.fetchval(
            self.connection,
            {
                "caller_workflow_id": workflow_id, "caller_project_id": project_id,
                "caller_run_id": run_id, "traces": traces, **times,
            },
        )  # fmt: skip
        if not isinstance(run, uuid.UUID):  # not the caller's run: nothing was written
            return None
        await PROGRESS_RUN_DRIVER.execute(
            self.connection,
            {"run_id": run, "progress": progress, "instant": instant, "now": now, "stale": stale},
        )
        await self.connection.commit()
        return run
