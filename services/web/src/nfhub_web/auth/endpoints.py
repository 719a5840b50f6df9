"""Log in (password, at admin), log out (revoked at admin), and the front door."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.auth.service import LoginService
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


def with_login_token(
    request: Request, state: WebStateDep, template: str, **context: Any
) -> Response:
    """A page with a login form. Login CSRF: the form's token must equal a cookie only this
    site can set (there is no session yet to hold one)."""
    token = secrets.token_urlsafe(32)
    response = render(request, template, login_token=token, **context)
    set_cookie(response, state.settings, login_cookie(state.settings), token)
    return response


async def login_form(
    request: Request,
    state: WebStateDep,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    providers = await LoginService(state.apis, state.login_providers).oidc_providers()
    return with_login_token(
        request,
        state,
        "login.html",
        status_code=status_code,
        next_path=next_path,
        username=username,
        error=error,
        providers=providers,
    )


def login_token_valid(request: Request, state: WebStateDep, submitted: str) -> bool:
    return tokens_match(submitted, request.cookies.get(login_cookie(state.settings), ""))


def session_started(state: WebStateDep, target: str, secret: str) -> Response:
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, state.settings, session_cookie(state.settings), secret)
    clear_cookie(response, state.settings, login_cookie(state.settings))
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
    return await login_form(request, state, next_path=safe_next(next_path))


@router.post("/login")
async def log_in(
    request: Request,
    state: WebStateDep,
    username: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = HOME,
) -> Response:
    target = safe_next(next_path)
    if not login_token_valid(request, state, login_token):
        return await login_form(
            request,
            state,
            next_path=target,
            username=username,
            error="The login form had expired; please log in again.",
            status_code=403,
        )
    if not username or not password:
        return await login_form(
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
        return await login_form(
            request,
            state,
            next_path=target,
            username=username,
            error=problem.detail,
            status_code=problem.status,
        )
    return session_started(state, target, secret)


OIDC_DONE = "/login/oidc/done"


@router.get(OIDC_DONE)
async def oidc_login_landing(
    request: Request,
    state: WebStateDep,
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> Response:
    """Where admin's callback sends the browser, the tokens in the URL fragment (which no
    server sees): /static/oidc.js posts them here at once and clears the address bar."""
    return with_login_token(request, state, "oidc_done.html", next_path=safe_next(next_path))


@router.post(OIDC_DONE)
async def complete_oidc_login(
    request: Request,
    state: WebStateDep,
    refresh_token: Annotated[str, Form(max_length=256)] = "",
    login_token: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=2048)] = HOME,
) -> Response:
    target = safe_next(next_path)
    if not login_token_valid(request, state, login_token) or not refresh_token:
        return await login_form(
            request,
            state,
            next_path=target,
            error="The login did not complete; please log in again.",
            status_code=403,
        )
    try:
        async with state.sessionmaker() as db, db.begin():
            service = make_session_service(state, db)
            secret, _ = await service.log_in_with_handed_tokens(refresh_token)
    except ApiProblem as problem:
        if problem.status not in (401, 422, 429):
            raise
        return await login_form(
            request, state, next_path=target, error=problem.detail, status_code=problem.status
        )
    return session_started(state, target, secret)


@router.get("/login/oidc/{provider}")
async def start_oidc_login(
    state: WebStateDep,
    provider: Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")],
    next_path: Annotated[str | None, Query(alias="next", max_length=2048)] = None,
) -> RedirectResponse:
    """Off to admin, which sends the browser to the provider and back to OIDC_DONE (declared
    after it: "done" is not a provider)."""
    settings = state.settings
    admin = str(settings.ADMIN_PUBLIC_URL or settings.ADMIN_URL).rstrip("/")
    back = f"{OIDC_DONE}?{urlencode({'next': safe_next(next_path)})}"
    url = f"{admin}/api/v1/auth/oidc/{quote(provider)}/login?{urlencode({'redirect_to': back})}"
    return RedirectResponse(url, status_code=303)


@router.post("/logout")
async def log_out(request: Request, state: WebStateDep, session: CheckedSession) -> Response:
    secret = request.cookies.get(session_cookie(state.settings), "")
    async with state.sessionmaker() as db, db.begin():
        await make_session_service(state, db).log_out(secret)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, state.settings, session_cookie(state.settings))
    return response
