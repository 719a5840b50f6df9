"""Endpoints other nfhub services call with a service token (never users)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from nfhub_admin.access.service import project_role_of
from nfhub_admin.internal.schemas import (
    Introspection,
    IntrospectionRequest,
    ProjectAccessAnswer,
    ProjectAccessRequest,
    StorageLocationRequest,
)
from nfhub_admin.projects.repository import ProjectRepository
from nfhub_admin.projects.schemas import StorageLocation
from nfhub_admin.projects.service import describe_storage
from nfhub_admin.tokens.service import TokenService
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import InternalService
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.errors import NotFound

router = APIRouter(prefix="/internal", tags=["internal"])


@router.post("/introspect", response_model=Introspection)
async def introspect_token(
    introspection_request: IntrospectionRequest,
    session: AsyncSessionDep,
    audit: AuditDep,
    _service: InternalService,
) -> Introspection:
    """Who a personal access token belongs to, if it is active."""
    principal = await TokenService(session, audit).introspect(
        introspection_request.token.get_secret_value()
    )
    if principal is None:
        return Introspection(active=False)
    return Introspection(
        active=True,
        sub=principal.subject,
        username=principal.username,
        scope=" ".join(sorted(principal.scopes)),
        token_id=principal.token_id,
    )


@router.post("/project-access", response_model=ProjectAccessAnswer)
async def get_project_access(
    project_access_request: ProjectAccessRequest,
    session: AsyncSessionDep,
    _service: InternalService,
) -> ProjectAccessAnswer:
    """A user's effective role in a project (none when they cannot see it)."""
    found = await project_role_of(
        session, project_access_request.user_id, project_access_request.project_id
    )
    if found is None:
        return ProjectAccessAnswer(project_id=project_access_request.project_id)
    project, role = found
    return ProjectAccessAnswer(project_id=project.id, org_id=project.org_id, role=role)


@router.post("/storage-location", response_model=StorageLocation)
async def get_storage_location(
    storage_location_request: StorageLocationRequest,
    request: Request,
    session: AsyncSessionDep,
    _service: InternalService,
) -> StorageLocation:
    """Where a project's files live (no credentials): compute writes run outputs there."""
    project = await ProjectRepository(session).get(storage_location_request.project_id)
    if project is None:
        raise NotFound(f"Project {storage_location_request.project_id} does not exist.")
    return describe_storage(project.id, request.app.state.settings)
