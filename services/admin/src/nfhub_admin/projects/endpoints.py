from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_admin.models import Project
from nfhub_admin.projects.schemas import (
    ProjectCreate,
    ProjectMemberAdd,
    ProjectMemberRead,
    ProjectMemberUpdate,
    ProjectRead,
    ProjectUpdate,
    ProjectWithRole,
    StorageLocation,
)
from nfhub_admin.projects.service import ProjectService
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, paginate

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectReader = Annotated[Principal, scoped("projects:read")]
ProjectWriter = Annotated[Principal, scoped("projects:write")]


async def get_project_service(session: AsyncSessionDep, audit: AuditDep) -> ProjectService:
    return ProjectService(session, audit)


ProjectServiceDep = Annotated[ProjectService, Depends(get_project_service)]


@router.get("", response_model=Page[ProjectWithRole])
async def list_projects(
    request: Request,
    response: Response,
    page: PageParamsDep,
    projects: ProjectServiceDep,
    principal: ProjectReader,
    org_id: Annotated[uuid.UUID | None, Query(description="Only this organisation's")] = None,
) -> dict[str, Any]:
    """Projects you can see (member, or admin of their org), with your role in each."""
    items, count = await projects.list_projects(
        principal, org_id=org_id, limit=page.limit, offset=page.offset
    )
    return paginate(request, response, page, items, count)


@router.post(
    "",
    response_model=ProjectRead,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"description": "No such organisation, or none you can see (problem+json)"}},
)
async def create_project(
    project_create: ProjectCreate, projects: ProjectServiceDep, principal: ProjectWriter
) -> Project:
    """Create a project in an organisation you administer."""
    return await projects.create_project(principal, project_create)


@router.get("/{project_id}", response_model=ProjectWithRole)
async def get_project(
    project_id: uuid.UUID, projects: ProjectServiceDep, principal: ProjectReader
) -> dict[str, Any]:
    """One project you can see."""
    return await projects.get_project(principal, project_id)


@router.patch("/{project_id}", response_model=ProjectWithRole)
async def update_project(
    project_id: uuid.UUID,
    project_update: ProjectUpdate,
    projects: ProjectServiceDep,
    principal: ProjectWriter,
) -> dict[str, Any]:
    """Rename or describe a project (project admins)."""
    return await projects.update_project(principal, project_id, project_update)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(
    project_id: uuid.UUID, projects: ProjectServiceDep, principal: ProjectWriter
) -> None:
    """Delete a project (project admins)."""
    await projects.delete_project(principal, project_id)


@router.get("/{project_id}/members", response_model=Page[ProjectMemberRead])
async def list_project_members(
    project_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    projects: ProjectServiceDep,
    principal: ProjectReader,
) -> dict[str, Any]:
    """Explicit members of a project and their roles."""
    items, count = await projects.list_members(
        principal, project_id, limit=page.limit, offset=page.offset
    )
    return paginate(request, response, page, items, count)


@router.post(
    "/{project_id}/members",
    response_model=ProjectMemberRead,
    status_code=status.HTTP_201_CREATED,
)
async def add_project_member(
    project_id: uuid.UUID,
    project_member_add: ProjectMemberAdd,
    projects: ProjectServiceDep,
    principal: ProjectWriter,
) -> dict[str, Any]:
    """Share the project with a member of its organisation (project admins)."""
    return await projects.add_member(principal, project_id, project_member_add)


@router.patch("/{project_id}/members/{user_id}", response_model=ProjectMemberRead)
async def update_project_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    project_member_update: ProjectMemberUpdate,
    projects: ProjectServiceDep,
    principal: ProjectWriter,
) -> dict[str, Any]:
    """Change a member's role (viewer, editor, admin)."""
    return await projects.change_member(principal, project_id, user_id, project_member_update.role)


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_project_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    projects: ProjectServiceDep,
    principal: ProjectWriter,
) -> None:
    """Remove a member (or leave the project)."""
    await projects.remove_member(principal, project_id, user_id)


@router.get("/{project_id}/credentials", response_model=StorageLocation)
async def get_project_credentials(
    project_id: uuid.UUID,
    request: Request,
    projects: ProjectServiceDep,
    principal: ProjectReader,
) -> StorageLocation:
    """The project's storage location, and short-lived prefix-scoped credentials on S3."""
    state = request.app.state
    return await projects.storage_location(principal, project_id, state.settings, state.sts_issuer)
