from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse, PlainTextResponse

from nfhub_compute.models import Run
from nfhub_compute.pipelines.schemas import SLUG_PATTERN
from nfhub_compute.runs.schemas import (
    LABEL_PATTERN,
    MAX_PATH_CHARS,
    LogPage,
    OutputEntry,
    RunCreate,
    RunFilter,
    RunMetrics,
    RunProgress,
    RunRead,
    RunRelaunch,
    RunReports,
)
from nfhub_compute.runs.service import RunService
from nfhub_compute.runs.states import RunState
from nfhub_compute.state import ComputeState, ComputeStateDep
from nfhub_compute.tasks.schemas import (
    TaskDetail,
    TaskFileName,
    TaskFilesPending,
    TaskFilter,
    TaskRead,
    TaskSort,
    TaskStatus,
)
from nfhub_shared.audit import AuditDep, AuditWriter
from nfhub_shared.auth.dependencies import bearer_token, project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSession, AsyncSessionDep
from nfhub_shared.pagination import MAX_LIMIT, Page, PageParams, PageParamsDep, page_of
from nfhub_shared.schemas import IsoDateTime

router = APIRouter(prefix="/runs", tags=["runs"])

RunsViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "runs:read")]
RunsEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor, "runs:write")]
MAX_LOG_LINES = 5000
# Characters of a task file one answer holds at most.
MAX_TASK_FILE_CHARS = 1024 * 1024
TaskId = Annotated[int, Path(ge=0, le=2**63 - 1, description="Nextflow's task id")]
TASK_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/plain": {"schema": {"type": "string"}}},
        "description": "The text (characters ``offset`` to ``offset + limit``). Headers: "
        "X-Total-Length (characters held), X-File-Size (bytes in the work dir), X-Truncated "
        "(the file was longer than COMPUTE_TASK_LOG_MAX_BYTES: its middle was cut, a line "
        "says so), X-Shipped-At, and Link rel=next while more follows.",
    },
    202: {
        "model": TaskFilesPending,
        "description": "Not shipped yet: the run's worker is reading the work dir. Ask "
        "again after Retry-After seconds.",
    },
    404: {
        "description": "No such run or task, or its files were never shipped and its work "
        "dir is gone (problem+json)"
    },
    503: {"description": "No worker has served the request for a minute (problem+json)"},
}


def _service(
    state: ComputeState, session: AsyncSession, audit: AuditWriter, access: ProjectAccess
) -> RunService:
    """The service needs three of the state's resources: it takes them from the typed state."""
    return RunService(
        session,
        state.settings,
        audit,
        access,
        admin=state.admin_client,
        files=state.files_client,
    )


async def get_reader(
    state: ComputeStateDep, session: AsyncSessionDep, audit: AuditDep, access: RunsViewer
) -> RunService:
    return _service(state, session, audit, access)


async def get_writer(
    state: ComputeStateDep, session: AsyncSessionDep, audit: AuditDep, access: RunsEditor
) -> RunService:
    return _service(state, session, audit, access)


Reader = Annotated[RunService, Depends(get_reader)]
Writer = Annotated[RunService, Depends(get_writer)]


@router.post("", response_model=RunRead, status_code=status.HTTP_201_CREATED)
async def create_run(
    run_create: RunCreate, request: Request, response: Response, runs: Writer
) -> Run:
    """Launch a pipeline: parameters are checked against its schema, the run is QUEUED."""
    run = await runs.create(run_create, bearer_token(request))
    response.headers["Location"] = str(request.url_for("get_run", run_id=run.id))
    return run


@router.get("", response_model=Page[RunRead])
async def list_runs(
    request: Request,
    response: Response,
    page: PageParamsDep,
    runs: Reader,
    state: Annotated[list[RunState] | None, Query(description="Repeat for several")] = None,
    pipeline: Annotated[str | None, Query(pattern=SLUG_PATTERN)] = None,
    label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    order_id: uuid.UUID | None = None,
    created_after: IsoDateTime | None = None,
    created_before: IsoDateTime | None = None,
) -> Page[RunRead]:
    """This project's runs, newest first."""
    run_filter = RunFilter(
        states=[s.value for s in state] if state else None,
        pipeline_slug=pipeline,
        label=label,
        order_id=order_id,
        created_after=created_after,
        created_before=created_before,
    )
    items, count = await runs.list_runs(run_filter, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.get("/by-order/{order_id}", response_model=Page[RunRead])
async def list_runs_by_order(
    order_id: uuid.UUID, request: Request, response: Response, page: PageParamsDep, runs: Reader
) -> Page[RunRead]:
    """The runs launched for a miner order, newest first."""
    items, count = await runs.list_runs(
        RunFilter(order_id=order_id), limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.get("/{run_id}", response_model=RunRead)
async def get_run(run_id: uuid.UUID, runs: Reader) -> RunRead:
    """A run: its state, timestamps, parameters and task counts."""
    return await runs.get_with_tasks(run_id)


@router.post("/{run_id}/cancel", response_model=RunRead, status_code=status.HTTP_202_ACCEPTED)
async def cancel_run(run_id: uuid.UUID, runs: Writer) -> Run:
    """Cancel: CANCELING until the backend confirms the run stopped, then CANCELED."""
    return await runs.cancel(run_id)


@router.delete("/{run_id}", response_model=RunRead, status_code=status.HTTP_202_ACCEPTED)
async def delete_run(run_id: uuid.UUID, runs: Writer) -> Run:
    """Same as POST /runs/{id}/cancel; the run's record and outputs are kept."""
    return await runs.cancel(run_id)


@router.post("/{run_id}/relaunch", response_model=RunRead, status_code=status.HTTP_201_CREATED)
async def relaunch_run(
    run_id: uuid.UUID,
    run_relaunch: RunRelaunch,
    request: Request,
    response: Response,
    runs: Writer,
) -> Run:
    """A new run from this one (same version and input); resume reuses its cached tasks."""
    run = await runs.relaunch(run_id, run_relaunch, bearer_token(request))
    response.headers["Location"] = str(request.url_for("get_run", run_id=run.id))
    return run


@router.get("/{run_id}/log", response_model=LogPage)
async def get_run_log(
    run_id: uuid.UUID,
    runs: Reader,
    source: Literal["nextflow", "console"] = "nextflow",
    offset: Annotated[int, Query(ge=0, le=100_000_000, description="First line")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_LINES, description="Lines")] = 500,
) -> LogPage:
    """The run's .nextflow.log (or the console output), by lines."""
    return await runs.log(run_id, source=source, offset=offset, limit=limit)


@router.get("/{run_id}/outputs", response_model=Page[OutputEntry])
async def list_run_outputs(
    run_id: uuid.UUID,
    request: Request,
    response: Response,
    runs: Reader,
    path: Annotated[
        str, Query(max_length=MAX_PATH_CHARS, description="A folder inside the outputs")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Page[OutputEntry]:
    """One folder of the run's outputs; each file with a signed download URL (files service).

    Needs the files:read scope too: the listing is the files service's, made as the caller.
    """
    items, count = await runs.outputs(
        run_id, path, bearer_token(request), limit=limit, offset=offset
    )
    page = PageParams(limit=limit, offset=offset)
    return page_of(request, response, page, items, count)


@router.get("/{run_id}/reports", response_model=RunReports)
async def list_run_reports(run_id: uuid.UUID, request: Request, runs: Reader) -> RunReports:
    """Nextflow's execution report, timeline and DAG of the run, each with a signed download
    URL (files service); written when the run ends, into the run's outputs
    (pipeline_info/).

    Needs the files:read scope too: the listing is the files service's, made as the caller.
    """
    return await runs.reports(run_id, bearer_token(request))


@router.get("/{run_id}/metrics", response_model=RunMetrics)
async def get_run_metrics(run_id: uuid.UUID, runs: Reader) -> RunMetrics:
    """Per process: mean, min, quartiles and max of CPU %, peak RSS, realtime, bytes read and
    written, and of usage against what the tasks asked for (CPUs, memory, time), over the
    tasks that ended (completed, failed or cached; each attempt counts). A Tower-channel
    run's are those Nextflow sent when it completed."""
    return await runs.metrics(run_id)


@router.get("/{run_id}/tasks", response_model=Page[TaskRead])
async def list_run_tasks(
    run_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    runs: Reader,
    status: Annotated[list[TaskStatus] | None, Query(description="Repeat for several")] = None,
    process: Annotated[str | None, Query(max_length=500, description="Exact process name")] = None,
    sort: TaskSort = "task_id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> Page[Any]:
    """A run's tasks with their trace: filter by status and process, sort by time or size."""
    task_filter = TaskFilter(
        statuses=status, process=process, sort=sort, descending=order == "desc"
    )
    items, count = await runs.list_tasks(run_id, task_filter, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.get("/{run_id}/progress", response_model=RunProgress)
async def get_run_progress(run_id: uuid.UUID, runs: Reader) -> RunProgress:
    """Task counters per process (submitted, running, succeeded, failed, cached, aborted)."""
    return await runs.progress(run_id)


@router.get("/{run_id}/tasks/{task_id}", response_model=TaskDetail)
async def get_run_task(run_id: uuid.UUID, task_id: TaskId, runs: Reader) -> TaskDetail:
    """One task: its script, exit status, attempt, work dir, native job id, resources asked and
    used, and which of its files were shipped."""
    return await runs.task_detail(run_id, task_id)


@router.get("/{run_id}/tasks/{task_id}/logs", responses=TASK_FILE_RESPONSES)
async def get_run_task_logs(
    run_id: uuid.UUID,
    task_id: TaskId,
    request: Request,
    runs: Reader,
    file: Annotated[
        TaskFileName,
        Query(
            description="stdout (.command.out), stderr (.command.err), log (.command.log, "
            "both), script (.command.sh)"
        ),
    ] = "stderr",
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First character")] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_TASK_FILE_CHARS, description="Characters")] = (
        MAX_TASK_FILE_CHARS
    ),
    refresh: Annotated[
        bool, Query(description="Read a running task's files again (they grow while it runs)")
    ] = False,
) -> Response:
    """A file of the task's work dir, as text: 202 while the run's worker ships it, then 200.

    The API never reads a work dir: the worker that owns the run ships a failed task's files
    on its own, and any task's when asked here (while its work dir exists).
    """
    answer = await runs.task_file(
        run_id, task_id, file, offset=offset, limit=limit, refresh=refresh
    )
    if isinstance(answer, TaskFilesPending):
        return JSONResponse(
            answer.model_dump(mode="json"),
            status_code=status.HTTP_202_ACCEPTED,
            headers={"Retry-After": str(answer.retry_after_seconds)},
        )
    headers = {
        "X-Total-Length": str(answer.length),
        "X-File-Size": str(answer.size),
        "X-Truncated": "true" if answer.truncated else "false",
        "X-Shipped-At": answer.shipped_at.isoformat(),
    }
    end = answer.offset + len(answer.text)
    if answer.text and end < answer.length:
        following = request.url.include_query_params(offset=end, limit=limit)
        headers["Link"] = f'<{following}>; rel="next"'
    return PlainTextResponse(answer.text, headers=headers)
