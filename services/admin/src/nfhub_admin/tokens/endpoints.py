from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_admin.tokens.schemas import TokenCreate, TokenCreated, TokenRead, TokensRevoked
from nfhub_admin.tokens.service import TokenService
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import scoped
from nfhub_shared.auth.principal import Principal
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/tokens", tags=["tokens"])

TokenReader = Annotated[Principal, scoped("tokens:read")]
TokenWriter = Annotated[Principal, scoped("tokens:write")]


async def get_token_service(session: AsyncSessionDep, audit: AuditDep) -> TokenService:
    return TokenService(session, audit)


TokenServiceDep = Annotated[TokenService, Depends(get_token_service)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
async def create_token(
    token_create: TokenCreate, tokens: TokenServiceDep, principal: TokenWriter
) -> TokenCreated:
    """Create a personal access token; the response is the only time it is shown."""
    return await tokens.create_token(principal, token_create)


@router.get("", response_model=Page[TokenRead])
async def list_tokens(
    request: Request,
    response: Response,
    page: PageParamsDep,
    tokens: TokenServiceDep,
    principal: TokenReader,
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens")] = False,
) -> Page[TokenRead]:
    """Your personal access tokens with when each was last used."""
    items, count = await tokens.list_tokens(
        principal, include_revoked=include_revoked, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    token_id: uuid.UUID, tokens: TokenServiceDep, principal: TokenWriter
) -> None:
    """Revoke one of your tokens; every service refuses it within 60 s."""
    await tokens.revoke_token(principal, token_id)


@router.delete("", response_model=TokensRevoked)
async def revoke_all_tokens(tokens: TokenServiceDep, principal: TokenWriter) -> TokensRevoked:
    """Revoke all your tokens at once (a leaked laptop, a departing script)."""
    return await tokens.revoke_all(principal)
