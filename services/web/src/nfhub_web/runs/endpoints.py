"""The runs list and the run page, with their live parts (htmx polls fragments)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.pages import MAX_OFFSET, error_page, render
from nfhub_web.runs.schemas import (
    RUN_STATES,
    RUNS_PER_PAGE,
    TASK_SORTS,
    TASK_STATUSES,
    TASKS_PER_PAGE,
    LogSource,
    RunFilters,
    RunState,
    SortOrder,
    TaskQuery,
    TaskSort,
    TaskStatus,
)
from nfhub_web.runs.service import RunsService
from nfhub_web.schemas import Page, RunRead
from nfhub_web.state import ApisDep, SettingsDep

router = APIRouter()


def run_filters(
    state: Annotated[list[RunState] | None, Query()] = None,
    pipeline: Annotated[str | None, Query(max_length=100)] = None,
    label: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> RunFilters:
    return RunFilters(tuple(state or ()), pipeline or None, label or None, offset)


RunFiltersDep = Annotated[RunFilters, Depends(run_filters)]


async def runs_page_data(
    service: RunsService, filters: RunFilters
) -> tuple[Page[RunRead] | None, ApiProblem | None]:
    """The page of runs, or the problem compute found with the filters (shown beside them)."""
    try:
        return await service.list_runs(filters), None
    except ApiProblem as problem:
        if problem.status not in (400, 422):
            raise
        return None, problem


@router.get("/runs")
async def list_runs(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    filters: RunFiltersDep,
) -> Response:
    runs, problem = await runs_page_data(RunsService(apis, session), filters)
    return render(
        request,
        "runs/list.html",
        session,
        status_code=problem.status if problem else 200,
        runs=runs,
        problem=problem,
        filters=filters,
        run_states=RUN_STATES,
        per_page=RUNS_PER_PAGE,
        poll_seconds=settings.POLL_SECONDS,
    )


@router.get("/runs/rows")
async def list_run_rows(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    filters: RunFiltersDep,
) -> Response:
    """The table's rows alone: what the list polls while a run on it is not finished."""
    runs = await RunsService(apis, session).list_runs(filters)
    return render(
        request,
        "runs/_rows.html",
        session,
        runs=runs,
        filters=filters,
        poll_seconds=settings.POLL_SECONDS,
    )


@router.get("/runs/{run_id}")
async def get_run(
    request: Request,
    run_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    task_status: Annotated[list[TaskStatus] | None, Query()] = None,
    sort: Annotated[TaskSort, Query()] = "task_id",
    order: Annotated[SortOrder, Query()] = "asc",
    task_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    path: Annotated[str, Query(max_length=4096)] = "",
    output_offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    process: Annotated[str | None, Query(max_length=500)] = None,
    log: Annotated[LogSource, Query()] = "console",
) -> Response:
    query = TaskQuery(tuple(task_status or ()), sort, order, task_offset, process or None)
    view = await RunsService(apis, session).view(run_id, query, path, output_offset, log)
    return render(
        request,
        "runs/detail.html",
        session,
        view=view,
        run=view.run,
        progress=view.progress,
        task_statuses=TASK_STATUSES,
        task_sorts=TASK_SORTS,
        tasks_per_page=TASKS_PER_PAGE,
        poll_seconds=settings.POLL_SECONDS,
    )


@router.get("/runs/{run_id}/live")
async def get_run_live(
    request: Request,
    run_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
) -> Response:
    """The run's state, progress bars and cancel button: what the run page polls."""
    run, progress = await RunsService(apis, session).live(run_id)
    return render(
        request,
        "runs/_live.html",
        session,
        run=run,
        progress=progress,
        poll_seconds=settings.POLL_SECONDS,
    )


@router.get("/runs/{run_id}/log")
async def get_run_log(
    request: Request,
    run_id: uuid.UUID,
    session: ProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    source: Annotated[LogSource, Query()] = "console",
    start: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
) -> Response:
    """The log section: its last lines, polled while the run is not finished."""
    run, log = await RunsService(apis, session).log_view(run_id, source, start)
    return render(
        request, "runs/_log.html", session, run=run, log=log, poll_seconds=settings.POLL_SECONDS
    )


@router.post("/runs/{run_id}/relaunch")
async def relaunch_run(
    request: Request,
    run_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
    resume: Annotated[bool, Form()] = False,
) -> Response:
    try:
        run = await RunsService(apis, session).relaunch(run_id, resume=resume)
    except ApiProblem as problem:
        if problem.status not in (400, 409, 422):
            raise
        title = "Cannot resume" if resume else "Cannot relaunch"
        return error_page(
            request, problem.status, problem.detail, session=session, title=title, problem=problem
        )
    return RedirectResponse(f"/runs/{run.id}", status_code=303)


@router.post("/runs/{run_id}/cancel")
async def cancel_run(
    request: Request, run_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    try:
        await RunsService(apis, session).cancel(run_id)
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        return error_page(
            request, 409, problem.detail, session=session, title="Cannot cancel", problem=problem
        )
    return RedirectResponse(f"/runs/{run_id}", status_code=303)
