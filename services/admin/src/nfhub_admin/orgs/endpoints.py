from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from nfhub_admin.memberships.schemas import OrgMemberAdd, OrgMemberRead, OrgMemberUpdate
from nfhub_admin.memberships.service import OrgMemberService
from nfhub_admin.models import Org
from nfhub_admin.orgs.schemas import OrgCreate, OrgRead, OrgUpdate, OrgWithRole
from nfhub_admin.orgs.service import OrgService
from nfhub_admin.state import SettingsDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/orgs", tags=["orgs"])

OrgReader = Annotated[Principal, scoped("orgs:read")]
OrgWriter = Annotated[Principal, scoped("orgs:write")]


async def get_org_service(
    session: AsyncSessionDep, audit: AuditDep, settings: SettingsDep
) -> OrgService:
    return OrgService(session, audit, allow_creation=settings.ALLOW_ORG_CREATION)


async def get_org_member_service(session: AsyncSessionDep, audit: AuditDep) -> OrgMemberService:
    return OrgMemberService(session, audit)


OrgServiceDep = Annotated[OrgService, Depends(get_org_service)]
OrgMemberServiceDep = Annotated[OrgMemberService, Depends(get_org_member_service)]


@router.get("", response_model=Page[OrgWithRole])
async def list_orgs(
    request: Request,
    response: Response,
    page: PageParamsDep,
    orgs: OrgServiceDep,
    principal: OrgReader,
) -> Page[OrgWithRole]:
    """The organisations you belong to, with your role in each."""
    items, count = await orgs.list_orgs(principal, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.post("", response_model=OrgRead, status_code=status.HTTP_201_CREATED)
async def create_org(
    org_create: OrgCreate,
    orgs: OrgServiceDep,
    principal: OrgWriter,
) -> Org:
    """Create an organisation; you become its owner."""
    return await orgs.create_org(principal, org_create)


@router.get("/{org_id}", response_model=OrgWithRole)
async def get_org(
    org_id: uuid.UUID,
    orgs: OrgServiceDep,
    principal: OrgReader,
) -> OrgWithRole:
    """One organisation you belong to."""
    return await orgs.get_org(principal, org_id)


@router.patch("/{org_id}", response_model=OrgWithRole)
async def update_org(
    org_id: uuid.UUID,
    org_update: OrgUpdate,
    orgs: OrgServiceDep,
    principal: OrgWriter,
) -> OrgWithRole:
    """Rename or describe an organisation (org admins)."""
    return await orgs.update_org(principal, org_id, org_update)


@router.delete("/{org_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_org(
    org_id: uuid.UUID,
    orgs: OrgServiceDep,
    principal: OrgWriter,
) -> None:
    """Delete an organisation and its projects (owners only)."""
    await orgs.delete_org(principal, org_id)


@router.get("/{org_id}/members", response_model=Page[OrgMemberRead])
async def list_org_members(
    org_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    members: OrgMemberServiceDep,
    principal: OrgReader,
) -> Page[OrgMemberRead]:
    """Members of an organisation and their roles."""
    items, count = await members.list_members(
        principal, org_id, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.post("/{org_id}/members", response_model=OrgMemberRead, status_code=status.HTTP_201_CREATED)
async def add_org_member(
    org_id: uuid.UUID,
    org_member_add: OrgMemberAdd,
    members: OrgMemberServiceDep,
    principal: OrgWriter,
) -> OrgMemberRead:
    """Add an existing user to the organisation (org admins; owners to add owners)."""
    return await members.add_member(principal, org_id, org_member_add)


@router.patch("/{org_id}/members/{user_id}", response_model=OrgMemberRead)
async def update_org_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    org_member_update: OrgMemberUpdate,
    members: OrgMemberServiceDep,
    principal: OrgWriter,
) -> OrgMemberRead:
    """Change a member's role; the last owner cannot be demoted."""
    return await members.change_member(principal, org_id, user_id, org_member_update.role)


@router.delete("/{org_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_org_member(
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    members: OrgMemberServiceDep,
    principal: OrgWriter,
) -> None:
    """Remove a member (or leave); the last owner cannot be removed."""
    await members.remove_member(principal, org_id, user_id)
