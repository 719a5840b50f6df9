"""WES's reads of runs and tasks: keyset pages, state counts, lookups by source URL.

Runs and tasks are the runs domain's rows (one run model); only the shapes WES reads them in
differ: a keyset page the database renders as WES's JSON, rather than ORM objects with an
offset and a count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Subquery,
    Text,
    bindparam,
    case,
    cast,
    extract,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.models import ComputeEnv, Pipeline, PipelineVersion, Run, Task
from nfhub_compute.pipelines.repository import visible_to
from nfhub_compute.wes.schemas import EnvRow, PageKey, RunPage
from nfhub_shared.db.driver import DriverStatement, ReadConnection


# The hot statements, in Core, compiled once (DriverStatement).
def _iso_utc(moment: ColumnElement[Any]) -> ColumnElement[str]:
    """A timestamp as Python's ``datetime.isoformat()`` writes one in UTC (what a read
    model's string field holds): seconds, a fraction only when there is one, ``+00:00``."""
    utc = func.timezone(literal_column("'UTC'"), moment)
    fraction = case(
        (
            extract("microseconds", moment) % 1_000_000 != 0,
            func.to_char(utc, literal_column("'.US'")),
        ),
        else_=literal_column("''"),
    )
    # || rather than concat(): NULL in, NULL out (json_strip_nulls then leaves the field out).
    whole_seconds = func.to_char(utc, literal_column("'YYYY-MM-DD\"T\"HH24:MI:SS'"))
    return whole_seconds.op("||")(fraction).op("||")(literal_column("'+00:00'"))


_NEWEST_FIRST = (Run.created_at.desc(), Run.id.desc())
_TAGS = Run.wes_request["tags"]


def _page_rows(after: bool) -> Subquery:
    """Up to ``limit`` runs of the project, newest first (after a key when ``after``),
    numbered from 1."""
    statement = select(
        Run.id,
        Run.state,
        Run.created_at,
        func.coalesce(Run.running_at, Run.workflow_started_at, Run.initializing_at).label("start"),
        Run.finished_at,
        case((func.jsonb_typeof(_TAGS) == literal_column("'object'"), _TAGS)).label("tags"),
        func.row_number().over(order_by=_NEWEST_FIRST).label("number"),
    ).where(Run.project_id == bindparam("project_id"))
    if after:
        statement = statement.where(
            tuple_(Run.created_at, Run.id)
            < tuple_(
                bindparam("after_created_at", type_=Run.created_at.type),
                bindparam("after_id", type_=Run.id.type),
            )
        )
    return statement.order_by(*_NEWEST_FIRST).limit(bindparam("limit", type_=Integer)).subquery()


def _page_statement(after: bool) -> DriverStatement:
    """One page as the database renders it: the RunSummary objects of the first ``size``
    rows as one JSON array (in RunSummary's field order, absent times left out), how many
    rows came (``size`` + 1 when there are more), and the key of the ``size``-th row."""
    rows = _page_rows(after)
    size = bindparam("size", type_=Integer)
    fields = {
        "run_id": rows.c.id,
        "state": rows.c.state,
        "start_time": _iso_utc(rows.c.start),
        "end_time": _iso_utc(rows.c.finished_at),
        "tags": func.coalesce(rows.c.tags, literal_column("'{}'::jsonb")),
    }
    summary = func.json_strip_nulls(
        func.json_build_object(
            *(
                part
                for name, value in fields.items()
                for part in (literal_column(f"'{name}'"), value)
            )
        )
    )
    summaries = func.json_agg(aggregate_order_by(summary, rows.c.number)).filter(
        rows.c.number <= size
    )
    last = rows.c.number == size
    return DriverStatement(
        select(
            cast(func.coalesce(summaries, literal_column("'[]'::json")), Text),
            func.count(),
            func.max(rows.c.created_at).filter(last),
            func.max(cast(rows.c.id, Text)).filter(last),
        )
    )


_FIRST_PAGE = _page_statement(after=False)
_NEXT_PAGE = _page_statement(after=True)
_RUN_STATE = select(Run.project_id, Run.state).where(Run.id == bindparam("run_id"))
_RUN_STATE_ANYWHERE = DriverStatement(_RUN_STATE)
_RUN_STATE_IN_PROJECT = DriverStatement(_RUN_STATE.where(Run.project_id == bindparam("project_id")))
_PRIMARY_ENV = DriverStatement(
    select(ComputeEnv.id, ComputeEnv.name, ComputeEnv.backend)
    .where(ComputeEnv.org_id == bindparam("org_id"), ComputeEnv.is_primary.is_(True))
    .limit(1)
)
_STATE_COUNTS = DriverStatement(
    select(Run.state, func.count())
    .where(Run.project_id == bindparam("project_id"))
    .group_by(Run.state)
)


class WesReads:
    """Single-statement reads of columns: work on a bare connection as on a session."""

    def __init__(self, session: ReadConnection) -> None:
        self.session = session

    async def run_page(self, project_id: uuid.UUID, after: PageKey | None, size: int) -> RunPage:
        """Up to ``size`` runs of the project, newest first, after ``after``, rendered as
        RunSummary JSON by the database: one range scan of
        ix_runs_project_id_created_at_id, however many runs the project has."""
        values: dict[str, Any] = {"project_id": project_id, "limit": size + 1, "size": size}
        if after is None:
            rows = await _FIRST_PAGE.fetch(self.session, **values)
        else:
            rows = await _NEXT_PAGE.fetch(
                self.session, after_created_at=after.created_at, after_id=after.id, **values
            )
        summaries, count, last_created_at, last_id = rows[0]
        more = count > size
        return RunPage(
            summaries=summaries,
            last=PageKey(last_created_at, uuid.UUID(last_id)) if more else None,
        )

    async def run_state(
        self, run_id: uuid.UUID, project_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, str] | None:
        """(project, state) of the run, in ``project_id`` when given, else in whichever
        project it is (the caller's membership of that one is checked next)."""
        if project_id is None:
            rows = await _RUN_STATE_ANYWHERE.fetch(self.session, run_id=run_id)
        else:
            rows = await _RUN_STATE_IN_PROJECT.fetch(
                self.session, run_id=run_id, project_id=project_id
            )
        return (rows[0][0], rows[0][1]) if rows else None

    async def project_of(self, run_id: uuid.UUID) -> uuid.UUID | None:
        """The project a run is in, whoever asks (the caller's membership is checked next)."""
        rows = await _RUN_STATE_ANYWHERE.fetch(self.session, run_id=run_id)
        return rows[0][0] if rows else None

    async def primary_env(self, org_id: uuid.UUID) -> EnvRow | None:
        rows = await _PRIMARY_ENV.fetch(self.session, org_id=org_id)
        return EnvRow(rows[0][0], rows[0][1], rows[0][2]) if rows else None

    async def state_counts(self, project_id: uuid.UUID) -> dict[str, int]:
        rows = await _STATE_COUNTS.fetch(self.session, project_id=project_id)
        return {row[0]: int(row[1]) for row in rows}


class WesRepository:
    """Reads of ORM objects (tasks, pipeline versions): on the request's session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def task_page(self, run_id: uuid.UUID, after: int | None, limit: int) -> Sequence[Task]:
        """A run's tasks in Nextflow's task id order, after task ``after`` (keyset)."""
        statement = select(Task).where(Task.run_id == run_id)
        if after is not None:
            statement = statement.where(Task.task_id > after)
        statement = statement.order_by(Task.task_id).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def task(self, run_id: uuid.UUID, task_id: int) -> Task | None:
        return await self.session.get(Task, (run_id, task_id))

    async def versions_from_source(
        self, org_id: uuid.UUID, urls: Sequence[str], revision: str | None
    ) -> Sequence[tuple[Pipeline, PipelineVersion]]:
        """Versions the org can see whose git source is one of ``urls`` (at ``revision`` when
        given), usable ones newest first."""
        statement = (
            select(Pipeline, PipelineVersion)
            .join(PipelineVersion, PipelineVersion.pipeline_id == Pipeline.id)
            .where(
                visible_to(org_id),
                PipelineVersion.source_url.in_(urls),
                PipelineVersion.deprecated_at.is_(None),
            )
        )
        if revision is not None:
            statement = statement.where(PipelineVersion.revision == revision)
        statement = statement.order_by(PipelineVersion.created_at.desc()).limit(20)
        rows = await self.session.execute(statement)
        return [(row[0], row[1]) for row in rows]
