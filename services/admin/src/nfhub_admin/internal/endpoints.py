"""Endpoints other nfhub services call with a service token (never users)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from nfhub_admin.internal.schemas import (
    Introspection,
    IntrospectionRequest,
    LoginSessionRequest,
    LoginSessionStatus,
    ProjectAccessAnswer,
    ProjectAccessRequest,
    StorageLocationRequest,
    WorkspaceProject,
    WorkspaceRequest,
)
from nfhub_admin.internal.service import InternalQueries
from nfhub_admin.projects.schemas import StorageLocation
from nfhub_admin.state import SettingsDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import InternalService
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/internal", tags=["internal"])


async def get_internal_queries(session: AsyncSessionDep, audit: AuditDep) -> InternalQueries:
    return InternalQueries(session, audit)


InternalQueriesDep = Annotated[InternalQueries, Depends(get_internal_queries)]


@router.post("/introspect", response_model=Introspection)
async def introspect_token(
    introspection_request: IntrospectionRequest,
    queries: InternalQueriesDep,
    _service: InternalService,
) -> Introspection:
    """Who a personal access token belongs to, if it is active."""
    return await queries.introspect(introspection_request.token.get_secret_value())


@router.post("/login-session", response_model=LoginSessionStatus)
async def get_login_session(
    login_session_request: LoginSessionRequest,
    queries: InternalQueriesDep,
    _service: InternalService,
) -> LoginSessionStatus:
    """Whether the login an access token belongs to (its sid) is live: not logged out, its
    user not disabled."""
    return await queries.login_session(login_session_request.session_id)


@router.post("/project-access", response_model=ProjectAccessAnswer)
async def get_project_access(
    project_access_request: ProjectAccessRequest,
    queries: InternalQueriesDep,
    _service: InternalService,
) -> ProjectAccessAnswer:
    """A user's effective role in a project (none when they cannot see it)."""
    return await queries.project_access(
        project_access_request.user_id, project_access_request.project_id
    )


@router.post("/storage-location", response_model=StorageLocation)
async def get_storage_location(
    storage_location_request: StorageLocationRequest,
    queries: InternalQueriesDep,
    settings: SettingsDep,
    _service: InternalService,
) -> StorageLocation:
    """Where a project's files live (no credentials): compute writes run outputs there."""
    return await queries.storage_location(storage_location_request.project_id, settings)


@router.post("/workspace-project", response_model=WorkspaceProject)
async def get_workspace_project(
    workspace_request: WorkspaceRequest, queries: InternalQueriesDep, _service: InternalService
) -> WorkspaceProject:
    """The project a workspace id names (Nextflow's tower.workspaceId); 404 when none does."""
    return await queries.workspace_project(workspace_request.workspace_id)
