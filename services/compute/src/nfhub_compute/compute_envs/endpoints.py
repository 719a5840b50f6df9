from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, status

from nfhub_compute.compute_envs.errors import ComputeEnvFailedChecks
from nfhub_compute.compute_envs.schemas import (
    ComputeEnvCreate,
    ComputeEnvRead,
    ComputeEnvStatus,
    ComputeEnvUpdate,
)
from nfhub_compute.compute_envs.service import ComputeEnvService
from nfhub_compute.models import ComputeEnv
from nfhub_compute.state import ComputeStateDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.errors import render_app_error
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/compute-envs", tags=["compute-envs"])

# Environments belong to the org (X-Project-ID names one of its projects): every member of
# the project reads them; its admins (org owners and admins are admins of every project)
# manage them.
EnvsViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "compute-envs:read")]
EnvsAdmin = Annotated[ProjectAccess, project_role(ProjectRole.admin, "compute-envs:write")]


async def get_reader(
    session: AsyncSessionDep, audit: AuditDep, access: EnvsViewer
) -> ComputeEnvService:
    return ComputeEnvService(session, audit, access)


async def get_writer(
    state: ComputeStateDep, session: AsyncSessionDep, audit: AuditDep, access: EnvsAdmin
) -> ComputeEnvService:
    return ComputeEnvService(session, audit, access, backends=state.backends)


Reader = Annotated[ComputeEnvService, Depends(get_reader)]
Writer = Annotated[ComputeEnvService, Depends(get_writer)]


@router.get("", response_model=Page[ComputeEnvRead])
async def list_compute_envs(
    request: Request, response: Response, page: PageParamsDep, envs: Reader
) -> Page[Any]:
    """The org's compute environments, the primary first."""
    items, count = await envs.list_envs(limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.post("", response_model=ComputeEnvRead, status_code=status.HTTP_201_CREATED)
async def create_compute_env(
    compute_env_create: ComputeEnvCreate, request: Request, response: Response, envs: Writer
) -> ComputeEnv:
    """Create a compute environment for the org (AVAILABLE; validate checks it for real)."""
    env = await envs.create(compute_env_create)
    response.headers["Location"] = str(request.url_for("get_compute_env", env_id=env.id))
    return env


@router.get("/{env_id}", response_model=ComputeEnvRead)
async def get_compute_env(env_id: uuid.UUID, envs: Reader) -> ComputeEnv:
    """One compute environment of the org."""
    return await envs.get(env_id)


@router.patch("/{env_id}", response_model=ComputeEnvRead)
async def update_compute_env(
    env_id: uuid.UUID, compute_env_update: ComputeEnvUpdate, envs: Writer
) -> ComputeEnv:
    """Change an environment, or disable (status DISABLED) and enable it again."""
    return await envs.update(env_id, compute_env_update)


@router.delete("/{env_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_compute_env(env_id: uuid.UUID, envs: Writer) -> None:
    """Delete an environment without queued or live runs (its past runs keep their record)."""
    await envs.delete(env_id)


@router.post("/{env_id}/primary", response_model=ComputeEnvRead)
async def make_compute_env_primary(env_id: uuid.UUID, envs: Writer) -> ComputeEnv:
    """Make it the org's primary: where a launch that names no environment goes."""
    return await envs.make_primary(env_id)


@router.post(
    "/{env_id}/validate",
    response_model=ComputeEnvRead,
    responses={
        422: {
            "description": "Failed: the environment is now INVALID, every problem in the "
            "detail and its status_reason (problem+json)"
        }
    },
)
async def validate_compute_env(
    env_id: uuid.UUID, request: Request, envs: Writer
) -> ComputeEnv | Response:
    """Check the environment for real (folders writable, config readable, backend answering)
    and record the result: AVAILABLE (200), or INVALID with every problem in status_reason
    (422 saying them)."""
    env = await envs.validate(env_id)
    if env.status != ComputeEnvStatus.INVALID:
        return env
    # Returned, not raised: the INVALID status and its reason must be committed.
    return render_app_error(
        request,
        ComputeEnvFailedChecks(
            f"Compute environment {env.name!r} is INVALID and refuses runs until it passes "
            f"validate: {env.status_reason}"
        ),
    )
