"""The current project's members: list; add, change a role, remove (as admin allows)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.members.service import MembersService
from nfhub_web.pages import render
from nfhub_web.schemas import PROJECT_ROLES
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep

router = APIRouter()

# What admin may refuse about a member change, shown on the page beside the form.
FORM_PROBLEMS = (400, 403, 404, 409, 422)


async def members_page(
    request: Request,
    session: ActiveSession,
    service: MembersService,
    *,
    problem: ApiProblem | None = None,
    username: str = "",
    status_code: int = 200,
) -> Response:
    project = await service.project()
    members = await service.list_members()
    field_errors = {e.field: e.message for e in problem.errors} if problem else {}
    return render(
        request,
        "members.html",
        session,
        status_code=status_code,
        project=project,
        members=members,
        roles=PROJECT_ROLES,
        manages=project.role == "admin",
        problem=problem,
        field_errors=field_errors,
        username=username,
    )


@router.get("/members")
async def list_members(request: Request, session: ProjectSession, apis: ApisDep) -> Response:
    return await members_page(request, session, MembersService(apis, session))


@router.post("/members")
async def add_member(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    username: Annotated[str, Form(max_length=320)] = "",
    role: Annotated[str, Form(max_length=20)] = "viewer",
) -> Response:
    service = MembersService(apis, session)
    try:
        await service.add_member(username, role)
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return await members_page(
            request,
            session,
            service,
            problem=problem,
            username=username,
            status_code=problem.status,
        )
    return RedirectResponse("/members", status_code=303)


@router.post("/members/{user_id}/role")
async def change_member_role(
    request: Request,
    user_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    service = MembersService(apis, session)
    try:
        await service.change_role(user_id, role)
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return await members_page(
            request, session, service, problem=problem, status_code=problem.status
        )
    return RedirectResponse("/members", status_code=303)


@router.post("/members/{user_id}/remove")
async def remove_member(
    request: Request, user_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    service = MembersService(apis, session)
    try:
        await service.remove_member(user_id)
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return await members_page(
            request, session, service, problem=problem, status_code=problem.status
        )
    return RedirectResponse("/members", status_code=303)
