"""Pick the org and project the pages work in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.context.service import ContextService
from nfhub_web.deps import CheckedSession, CurrentSession, make_session_service
from nfhub_web.pages import render
from nfhub_web.state import ApisDep, WebStateDep

router = APIRouter()


@router.get("/context")
async def context_page(request: Request, session: CurrentSession, apis: ApisDep) -> Response:
    choices = await ContextService(apis, session).choices()
    return render(request, "context.html", session, choices=choices, error=None)


@router.post("/context")
async def pick_context(
    request: Request,
    state: WebStateDep,
    session: CheckedSession,
    apis: ApisDep,
    project_id: Annotated[uuid.UUID, Form()],
) -> Response:
    service = ContextService(apis, session)
    try:
        org, project = await service.pick(project_id)
    except ApiProblem as problem:
        if problem.status not in (403, 404, 409, 422):
            raise
        choices = await service.choices()
        return render(
            request,
            "context.html",
            session,
            status_code=problem.status,
            choices=choices,
            error=problem.detail,
        )
    async with state.sessionmaker() as db, db.begin():
        await make_session_service(state, db).set_context(session.id, org, project)
    return RedirectResponse("/runs", status_code=303)
