"""Personal access tokens: list, create (the secret shown once), revoke."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedSession, CurrentSession
from nfhub_web.pages import render
from nfhub_web.schemas import TokenCreated
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep
from nfhub_web.tokens.service import TokensService

router = APIRouter()


async def tokens_page(
    request: Request,
    session: ActiveSession,
    service: TokensService,
    *,
    created: TokenCreated | None = None,
    problem: ApiProblem | None = None,
    name: str = "",
    status_code: int = 200,
) -> Response:
    tokens = await service.list_tokens()
    field_errors = {e.field: e.message for e in problem.errors} if problem else {}
    return render(
        request,
        "tokens.html",
        session,
        status_code=status_code,
        tokens=tokens,
        created=created,
        problem=problem,
        field_errors=field_errors,
        name=name,
    )


@router.get("/tokens")
async def list_tokens(request: Request, session: CurrentSession, apis: ApisDep) -> Response:
    return await tokens_page(request, session, TokensService(apis, session))


@router.post("/tokens")
async def create_token(
    request: Request,
    session: CheckedSession,
    apis: ApisDep,
    name: Annotated[str, Form(max_length=1000)] = "",
    expires_in_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    service = TokensService(apis, session)
    typed = expires_in_days.strip()
    # Whatever was typed goes to admin, which says what is wrong with it. ASCII digits only
    # become a number: str.isdigit() also takes "²", which int() refuses.
    number = typed.isascii() and typed.isdigit()
    days: int | str | None = (int(typed) if number else typed) if typed else None
    try:
        created = await service.create_token(name, days)
    except ApiProblem as problem:
        if problem.status not in (400, 409, 422):
            raise
        return await tokens_page(
            request, session, service, problem=problem, name=name, status_code=problem.status
        )
    # The secret is in this answer only: admin keeps its hash, and no later page shows it.
    return await tokens_page(request, session, service, created=created, status_code=201)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: uuid.UUID, session: CheckedSession, apis: ApisDep
) -> RedirectResponse:
    await TokensService(apis, session).revoke_token(token_id)
    return RedirectResponse("/tokens", status_code=303)
