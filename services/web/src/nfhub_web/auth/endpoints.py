"""Log in (password, at admin), log out (revoked at admin), and the front door."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import (
    CheckedSession,
    OptionalSession,
    clear_cookie,
    login_cookie,
    make_session_service,
    session_cookie,
    set_cookie,
    tokens_match,
)
from nfhub_web.pages import render
from nfhub_web.state import WebStateDep

router = APIRouter()

HOME = "/runs"


def safe_next(target: str | None) -> str:
    """Only a path of this site: an absolute URL (or //host) would be an open redirect."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return HOME
    return target


@router.get("/")
async def home(session: OptionalSession) -> RedirectResponse:
    return RedirectResponse(HOME if session else "/login", status_code=303)


def login_form(
    request: Request,
    state: WebStateDep,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    # Login CSRF: the form's token must equal a cookie only this site can set.
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        status_code=status_code,
        login_token=token,
        next_path=next_path,
        username=username,
        error=error,
    )
    set_cookie(response, state.settings, login_cookie(state.settings), token)
    return response


@router.get("/login")
async def login_page(
    request: Request,
    state: WebStateDep,
    session: OptionalSession,
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> Response:
    if session is not None:
        return RedirectResponse(safe_next(next_path), status_code=303)
    return login_form(request, state, next_path=safe_next(next_path))


@router.post("/login")
async def log_in(
    request: Request,
    state: WebStateDep,
    username: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = HOME,
) -> Response:
    settings = state.settings
    target = safe_next(next_path)
    if not tokens_match(login_token, request.cookies.get(login_cookie(settings), "")):
        return login_form(
            request,
            state,
            next_path=target,
            username=username,
            error="The login form had expired; please log in again.",
            status_code=403,
        )
    if not username or not password:
        return login_form(
            request,
            state,
            next_path=target,
            username=username,
            error="Enter your username and password.",
            status_code=400,
        )
    try:
        async with state.sessionmaker() as db, db.begin():
            secret, _ = await make_session_service(state, db).log_in(username, password)
    except ApiProblem as problem:
        if problem.status not in (401, 422, 429):
            raise
        return login_form(
            request,
            state,
            next_path=target,
            username=username,
            error=problem.detail,
            status_code=problem.status,
        )
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, settings, session_cookie(settings), secret)
    clear_cookie(response, settings, login_cookie(settings))
    return response


@router.post("/logout")
async def log_out(request: Request, state: WebStateDep, session: CheckedSession) -> Response:
    secret = request.cookies.get(session_cookie(state.settings), "")
    async with state.sessionmaker() as db, db.begin():
        await make_session_service(state, db).log_out(secret)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, state.settings, session_cookie(state.settings))
    return response
