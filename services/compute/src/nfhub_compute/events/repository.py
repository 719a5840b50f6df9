from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from sqlalchemy import (
    DateTime,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nfhub_compute.models import Run, Task
from nfhub_compute.runs.repository import NOTIFY_CHANNEL
from nfhub_compute.runs.states import RunState
from nfhub_compute.tasks.repository import (
    ROW_COLUMNS,
    UPSERT_TASK_PARAMS,
    UPSERT_TASKS_UNNEST,
    merge_on_conflict,
    merge_rows,
    unnest_parameters,
    upsert_parameters,
)

# Where events are written: a connection of the weblog's autocommit engine in production, a
# session in tests that roll everything back.
EventsConnection = AsyncSession | AsyncConnection
EventsConnect = Callable[[], AbstractAsyncContextManager[EventsConnection]]

# A task event updates its run's last_event_at at most this often: one run row is not
# locked by every event of a busy run.
TOUCH_INTERVAL = timedelta(seconds=2)


def _waking(columns: Any) -> Any:
    """``state IN (INITIALIZING, UNKNOWN)`` with plain parameters: ``in_()`` makes an
    expanding parameter, and SQLAlchemy re-renders the statement's SQL for it on every
    execution (a fifth of a task event's time, bench/compute.py).

    A run UNKNOWN because its host's worker is gone stays so: events say Nextflow runs, but
    nobody is there to finish it until that worker is back (it moves it back itself).
    """
    return or_(
        columns.state == RunState.INITIALIZING.value,
        and_(columns.state == RunState.UNKNOWN.value, columns.owner_lost_at.is_(None)),
    )


def _heard_from(now: Any, waking: Any) -> dict[str, Any]:
    """The run's columns once an event came: noted alive, INITIALIZING/UNKNOWN → RUNNING."""
    runs = Run.__table__.c
    return {
        "last_event_at": now,
        "updated_at": now,
        "state": case((waking, RunState.RUNNING.value), else_=runs.state),
        "running_at": func.coalesce(runs.running_at, case((waking, now))),
        "state_reason": case((waking, None), else_=runs.state_reason),
    }


def _touch_statement() -> Any:
    """The plain task event's update, built once (its compiled form is cached)."""
    runs = Run.__table__
    waking = _waking(runs.c)
    now: Any = bindparam("seen_at", type_=DateTime(timezone=True))
    return (
        update(runs)  # type: ignore[arg-type]
        .where(
            runs.c.id == bindparam("seen_run_id"),
            or_(
                waking,
                runs.c.last_event_at.is_(None),
                runs.c.last_event_at < bindparam("stale", type_=DateTime(timezone=True)),
            ),
        )
        .values(_heard_from(now, waking))
    )


TOUCH_RUN = _touch_statement()


def _touch_runs_statement() -> Any:
    """TOUCH_RUN for several runs at once (``id = ANY(:seen_run_ids)``)."""
    runs = Run.__table__
    waking = _waking(runs.c)
    now: Any = bindparam("seen_at", type_=DateTime(timezone=True))
    run_ids: Any = bindparam("seen_run_ids", type_=ARRAY(Uuid()))
    return (
        update(runs)  # type: ignore[arg-type]
        .where(
            runs.c.id == func.any(run_ids),
            or_(
                waking,
                runs.c.last_event_at.is_(None),
                runs.c.last_event_at < bindparam("stale", type_=DateTime(timezone=True)),
            ),
        )
        .values(_heard_from(now, waking))
    )


def _json_rows_upsert() -> Any:
    """The tasks upsert (tasks.repository.merge_on_conflict) with its rows as ONE jsonb array
    of objects, one per task, keyed by column (``jsonb_to_recordset``): Python encodes a batch
    with one orjson call, where one array per column costs a conversion per value on both sides
    (a third of a weblog event's CPU, bench/compute.py). Rows of a run that is not there are
    left out (one stale URL must not fail the other requests' events with a foreign key), and
    the rows go in (run, task) order: concurrent batches lock the same tasks in the same order."""
    table = Task.__table__
    runs = Run.__table__
    names = ("run_id", *ROW_COLUMNS)
    rows = (
        func.jsonb_to_recordset(bindparam("rows", type_=JSONB))
        .table_valued(*(column(name, table.c[name].type) for name in names))
        .render_derived(name="row_values", with_types=True)
    )
    source = (
        select(*(rows.c[name] for name in names))
        .select_from(rows.join(runs, runs.c.id == rows.c.run_id))
        .order_by(rows.c.run_id, rows.c.task_id)
    )
    return merge_on_conflict(insert(table).from_select(names, source))  # type: ignore[arg-type]


class DriverStatement:
    """A statement compiled once for asyncpg and run on the driver's connection itself: its
    parameters go to asyncpg as they are, without SQLAlchemy's execution machinery around
    them (a compile-cache lookup, bind processing, a cursor, greenlet hops: ~10 us per event
    in a batch of 8, bench/compute.py). Only for a connection of the autocommit events engine,
    or one already inside a transaction (a test's session): the statement is its own
    transaction, or a part of that one.

    SQLAlchemy does not see the statement fail, so a connection lost underneath is invalidated
    here, as SQLAlchemy would: the pool drops it instead of handing it to the next batch."""

    def __init__(self, statement: Any) -> None:
        compiled = statement.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
        self.sql = str(compiled)
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self.defaults: dict[str, Any] = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }

    async def execute(self, session: EventsConnection, values: dict[str, Any]) -> None:
        await self._run(session, values, fetch=False)

    async def fetchval(self, session: EventsConnection, values: dict[str, Any]) -> Any:
        """The first column of the statement's first row (None without one)."""
        return await self._run(session, values, fetch=True)

    async def _run(self, session: EventsConnection, values: dict[str, Any], *, fetch: bool) -> Any:
        defaults = self.defaults
        parameters = [values[n] if n in values else defaults[n] for n in self.names]
        connection = await session.connection() if isinstance(session, AsyncSession) else session
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # an open connection of the pool
        try:
            if fetch:
                return await driver.fetchval(self.sql, *parameters)
            await driver.execute(self.sql, *parameters)
            return None
        except BaseException as exc:
            if driver.is_closed() or isinstance(exc, OSError | asyncpg.InterfaceError):
                await connection.invalidate(exc if isinstance(exc, Exception) else None)
            raise


# A batch of plain task events in one statement: on the autocommit engine its own transaction,
# one round trip (where BEGIN, upsert, touch, COMMIT are four): the tasks upserted in a CTE,
# the runs touched.
BATCH_EVENT = _touch_runs_statement().add_cte(
    _json_rows_upsert().returning(literal_column("1")).cte("upserted")
)
BATCH_EVENT_DRIVER = DriverStatement(BATCH_EVENT)
# A task event in one statement (one round trip, its own transaction): the task upserted in a
# CTE, the run touched.
TASK_EVENT = TOUCH_RUN.add_cte(UPSERT_TASK_PARAMS.returning(literal_column("1")).cte("upserted"))


def json_rows(runs: Sequence[tuple[uuid.UUID, Sequence[dict[str, Any]]]]) -> str:
    """BATCH_EVENT's ``rows``: the task rows of several runs (task_values' dicts, whose keys are
    the columns), one per task (a task twice in a batch merged: one INSERT may not touch a row
    twice), in (run, task) order, as one JSON array. orjson writes NaN and infinity as null
    (jsonb has neither); a value it cannot write (an integer past 64 bits, only in the raw trace)
    sends the batch through the standard library instead."""
    ordered: list[dict[str, Any]] = []
    for run_id, rows in sorted(runs, key=lambda run: run[0]):
        if len({row["task_id"] for row in rows}) != len(rows):
            rows = merge_rows(rows)
        for row in sorted(rows, key=lambda row: row["task_id"]):
            ordered.append({**row, "run_id": run_id})
    try:
        return orjson.dumps(ordered).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(_finite(ordered), separators=(",", ":"), default=str)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinity (which jsonb cannot hold) as None, at any depth."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _ordered_rows(runs: list[tuple[uuid.UUID, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """One row per task, in (run, task) order: concurrent batches lock rows in the same order."""
    return [
        row
        for run_id, rows in sorted(runs, key=lambda run: run[0])
        for row in sorted(upsert_parameters(run_id, rows), key=lambda row: row["task_id"])
    ]


class RunEventRepository:
    """Works on a session or on a bare connection: the weblog path uses a connection of the
    autocommit engine (each statement its own transaction, no ORM bookkeeping)."""

    def __init__(self, session: EventsConnection) -> None:
        self.session = session

    async def task_event(self, run_id: uuid.UUID, row: dict[str, Any], now: datetime) -> None:
        """Upsert one task and note the run alive, in a single statement."""
        parameters = {f"task_{name}": row.get(name) for name in ROW_COLUMNS}
        parameters.update(
            task_run_id=run_id, seen_run_id=run_id, seen_at=now, stale=now - TOUCH_INTERVAL
        )
        await self.session.execute(TASK_EVENT, parameters)

    async def tasks(self, run_id: uuid.UUID, rows: list[dict[str, Any]]) -> None:
        await self.tasks_of_runs([(run_id, rows)])

    async def transaction(self) -> None:
        """Make the statements from here to commit() one transaction: on a connection of the
        autocommit engine each statement is otherwise its own (a session already has one)."""
        if isinstance(self.session, AsyncConnection):
            await self.session.execution_options(isolation_level="READ COMMITTED")

    async def batch(
        self, runs: list[tuple[uuid.UUID, list[dict[str, Any]]]], now: datetime
    ) -> None:
        """Plain task events of several runs in one statement (BATCH_EVENT): tasks upserted
        in (run, task) order, each run noted alive (INITIALIZING/UNKNOWN → RUNNING)."""
        await BATCH_EVENT_DRIVER.execute(
            self.session,
            {
                "rows": json_rows(runs),
                "seen_run_ids": sorted(run_id for run_id, _ in runs),
                "seen_at": now,
                "stale": now - TOUCH_INTERVAL,
            },
        )

    async def tasks_of_runs(self, runs: list[tuple[uuid.UUID, list[dict[str, Any]]]]) -> None:
        """Several runs' task rows in one multi-row upsert (a task's rows merged first, later
        ones winning at the same status rank), in (run, task) order: concurrent batches lock
        rows in the same order."""
        parameters = _ordered_rows(runs)
        if parameters:
            await self.session.execute(UPSERT_TASKS_UNNEST, unnest_parameters(parameters))

    async def progress(self, run_id: uuid.UUID, progress: dict[str, Any], instant: int) -> None:
        """Keep the run's progress counters, unless newer ones (by the client's instant) are
        already there: Tower calls may arrive out of order."""
        runs = Run.__table__.c
        await self.session.execute(
            update(Run)
            .where(
                Run.id == run_id,
                or_(runs.progress_instant.is_(None), runs.progress_instant <= instant),
            )
            .values(progress=progress, progress_instant=instant)
        )

    async def notify(self, payload: str) -> None:
        await self.session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": payload},
        )

    async def seen(self, run_id: uuid.UUID, now: datetime, values: dict[str, Any]) -> None:
        """The run is alive (INITIALIZING/UNKNOWN → RUNNING); keep the event's workflow values.

        A plain task event skips the update when the run is RUNNING and was touched in the
        last TOUCH_INTERVAL.
        """
        if not any(value is not None for value in values.values()):
            await self.session.execute(
                TOUCH_RUN, {"seen_run_id": run_id, "seen_at": now, "stale": now - TOUCH_INTERVAL}
            )
            return
        changes = _heard_from(now, _waking(Run))
        for name, value in values.items():
            if value is None:
                continue
            if name == "workflow":
                changes[name] = Run.workflow.op("||")(cast(value, JSONB))
            else:
                changes[name] = value
        await self.session.execute(update(Run).where(Run.id == run_id).values(changes))
