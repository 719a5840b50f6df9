from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from nfhub_admin.audit.schemas import AuditEventRead, AuditFilters
from nfhub_admin.audit.service import AuditService
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/audit-events", tags=["audit"])

AuditReader = Annotated[Principal, scoped("audit:read")]


@router.get("", response_model=Page[AuditEventRead])
async def list_audit_events(
    request: Request,
    response: Response,
    page: PageParamsDep,
    filters: Annotated[AuditFilters, Query()],
    session: AsyncSessionDep,
    principal: AuditReader,
) -> Page[AuditEventRead]:
    """Who did what in an organisation, newest first (org admins and owners)."""
    items, count = await AuditService(session).list_events(
        principal, filters, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)
