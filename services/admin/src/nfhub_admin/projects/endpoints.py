from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_admin.memberships.schemas import (
    ProjectMemberAdd,
    ProjectMemberRead,
    ProjectMemberUpdate,
)
from nfhub_admin.memberships.service import ProjectMemberService
from nfhub_admin.models import Project
from nfhub_admin.projects.credentials import StsCredentialIssuer
from nfhub_admin.projects.schemas import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    ProjectWithRole,
    StorageLocation,
)
from nfhub_admin.projects.service import ProjectService
from nfhub_admin.state import AdminStateDep, SettingsDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/projects", tags=["projects"])

ProjectReader = Annotated[Principal, scoped("projects:read")]
ProjectWriter = Annotated[Principal, scoped("projects:write")]


async def get_project_service(session: AsyncSessionDep, audit: AuditDep) -> ProjectService:
    return ProjectService(session, audit)


async def get_project_member_service(
    session: AsyncSessionDep, audit: AuditDep
) -> ProjectMemberService:
    return ProjectMemberService(session, audit)


async def get_sts_issuer(state: AdminStateDep) -> StsCredentialIssuer | None:
    return state.sts_issuer


ProjectServiceDep = Annotated[ProjectService, Depends(get_project_service)]
StsIssuerDep = Annotated[StsCredentialIssuer | None, Depends(get_sts_issuer)]
ProjectMemberServiceDep = Annotated[ProjectMemberService, Depends(get_project_member_service)]


@router.get("", response_model=Page[ProjectWithRole])
async def list_projects(
    request: Request,
    response: Response,
    page: PageParamsDep,
    projects: ProjectServiceDep,
    principal: ProjectReader,
    org_id: Annotated[uuid.UUID | None, Query(description="Only this organisation's")] = None,
) -> Page[ProjectWithRole]:
    """Projects you can see (member, or admin of their org), with your role in each."""
    items, count = await projects.list_projects(
        principal, org_id=org_id, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


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
) -> ProjectWithRole:
    """One project you can see."""
    return await projects.get_project(principal, project_id)


@router.patch("/{project_id}", response_model=ProjectWithRole)
async def update_project(
    project_id: uuid.UUID,
    project_update: ProjectUpdate,
    projects: ProjectServiceDep,
    principal: ProjectWriter,
) -> ProjectWithRole:
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
    members: ProjectMemberServiceDep,
    principal: ProjectReader,
) -> Page[ProjectMemberRead]:
    """Explicit members of a project and their roles."""
    items, count = await members.list_members(
        principal, project_id, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.post(
    "/{project_id}/members",
    response_model=ProjectMemberRead,
    status_code=status.HTTP_201_CREATED,
)
async def add_project_member(
    project_id: uuid.UUID,
    project_member_add: ProjectMemberAdd,
    members: ProjectMemberServiceDep,
    principal: ProjectWriter,
) -> ProjectMemberRead:
    """Share the project with a member of its organisation (project admins)."""
    return await members.add_member(principal, project_id, project_member_add)


@router.patch("/{project_id}/members/{user_id}", response_model=ProjectMemberRead)
async def update_project_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    project_member_update: ProjectMemberUpdate,
    members: ProjectMemberServiceDep,
    principal: ProjectWriter,
) -> ProjectMemberRead:
    """Change a member's role (viewer, editor, admin)."""
    return await members.change_member(principal, project_id, user_id, project_member_update.role)


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_project_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    members: ProjectMemberServiceDep,
    principal: ProjectWriter,
) -> None:
    """Remove a member (or leave the project)."""
    await members.remove_member(principal, project_id, user_id)


@router.get("/{project_id}/credentials", response_model=StorageLocation)
async def get_project_credentials(
    project_id: uuid.UUID,
    projects: ProjectServiceDep,
    principal: ProjectReader,
    settings: SettingsDep,
    sts_issuer: StsIssuerDep,
) -> StorageLocation:
    """The project's storage location, and short-lived prefix-scoped credentials on S3."""
    return await projects.storage_location(principal, project_id, settings, sts_issuer)
