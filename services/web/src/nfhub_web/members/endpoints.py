"""Members of the current project (/members) and of its organisation (/org/members): list;
add, change a role, remove, as admin allows."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.members.service import MEMBERS_PER_PAGE, ROLES, MembersService, Scope
from nfhub_web.pages import MAX_OFFSET, render
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep

router = APIRouter()

# What admin may refuse about a member change, shown on the page beside the form.
FORM_PROBLEMS = (400, 403, 404, 409, 422)
PATHS: dict[Scope, str] = {"project": "/members", "org": "/org/members"}


async def members_page(
    request: Request,
    session: ActiveSession,
    service: MembersService,
    *,
    problem: ApiProblem | None = None,
    username: str = "",
    status_code: int = 200,
    offset: int = 0,
) -> Response:
    membership = await service.membership()
    members = await service.list_members(offset)
    field_errors = {e.field: e.message for e in problem.errors} if problem else {}
    return render(
        request,
        "members.html",
        session,
        status_code=status_code,
        membership=membership,
        members=members,
        problem=problem,
        field_errors=field_errors,
        username=username,
        offset=offset,
        per_page=MEMBERS_PER_PAGE,
    )


async def changed(
    request: Request, session: ActiveSession, service: MembersService, change: Awaitable[object]
) -> Response:
    """Run a member change; back to the list, or the list with admin's refusal."""
    try:
        await change
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return await members_page(
            request, session, service, problem=problem, status_code=problem.status
        )
    return RedirectResponse(PATHS[service.scope], status_code=303)


def add_routes(scope: Scope) -> None:
    path = PATHS[scope]

    @router.get(path, name=f"list_{scope}_members")
    async def list_members(
        request: Request,
        session: ProjectSession,
        apis: ApisDep,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Response:
        service = MembersService(apis, session, scope)
        return await members_page(request, session, service, offset=offset)

    @router.post(path, name=f"add_{scope}_member")
    async def add_member(
        request: Request,
        session: CheckedProjectSession,
        apis: ApisDep,
        username: Annotated[str, Form(max_length=320)] = "",
        role: Annotated[str, Form(max_length=20)] = "",
    ) -> Response:
        service = MembersService(apis, session, scope)
        try:
            await service.add_member(username, role or ROLES[scope][0])
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
        return RedirectResponse(path, status_code=303)

    @router.post(f"{path}/{{user_id}}/role", name=f"change_{scope}_member_role")
    async def change_member_role(
        request: Request,
        user_id: uuid.UUID,
        session: CheckedProjectSession,
        apis: ApisDep,
        role: Annotated[str, Form(max_length=20)] = "",
    ) -> Response:
        service = MembersService(apis, session, scope)
        return await changed(request, session, service, service.change_role(user_id, role))

    @router.post(f"{path}/{{user_id}}/remove", name=f"remove_{scope}_member")
    async def remove_member(
        request: Request, user_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
    ) -> Response:
        service = MembersService(apis, session, scope)
        return await changed(request, session, service, service.remove_member(user_id))


add_routes("project")
add_routes("org")
