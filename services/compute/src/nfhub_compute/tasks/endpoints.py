from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from nfhub_compute.tasks.schemas import RunProgress, TaskRead, TaskSort, TaskStatus
from nfhub_compute.tasks.service import TaskService
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, paginate

router = APIRouter(prefix="/runs", tags=["runs"])

RunsViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "runs:read")]


async def get_task_service(session: AsyncSessionDep, access: RunsViewer) -> TaskService:
    return TaskService(session, access)


Tasks = Annotated[TaskService, Depends(get_task_service)]


@router.get("/{run_id}/tasks", response_model=Page[TaskRead])
async def list_run_tasks(
    run_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    tasks: Tasks,
    status: Annotated[list[TaskStatus] | None, Query(description="Repeat for several")] = None,
    process: Annotated[str | None, Query(max_length=500, description="Exact process name")] = None,
    sort: TaskSort = "task_id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
) -> dict[str, Any]:
    """A run's tasks with their trace: filter by status and process, sort by time or size."""
    items, count = await tasks.list_tasks(
        run_id,
        statuses=status,
        process=process,
        sort=sort,
        descending=order == "desc",
        limit=page.limit,
        offset=page.offset,
    )
    return paginate(request, response, page, items, count)


@router.get("/{run_id}/progress", response_model=RunProgress)
async def get_run_progress(run_id: uuid.UUID, tasks: Tasks) -> dict[str, Any]:
    """Task counters per process (submitted, running, succeeded, failed, cached, aborted)."""
    return await tasks.progress(run_id)
