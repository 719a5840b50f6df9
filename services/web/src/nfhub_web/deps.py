"""The HTTP side of sessions: the cookie, resolving it for each page, and CSRF checks."""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Response

from nfhub_shared.db.session import AsyncSession
from nfhub_web.config import Settings
from nfhub_web.sessions.errors import LoginRequired
from nfhub_web.sessions.service import ActiveSession, SessionService, SessionSettings
from nfhub_web.state import WebState, WebStateDep

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfRefused(Exception):
    """An unsafe request without this session's CSRF token."""


class NoProject(Exception):
    """The page needs a project and the session has none picked yet."""


def cookie_name(settings: Settings, base: str) -> str:
    """``__Host-`` cookies are Secure, host-only and path /: no subdomain can plant one."""
    return f"__Host-{base}" if settings.COOKIE_SECURE else base


def session_cookie(settings: Settings) -> str:
    return cookie_name(settings, "nfhub_session")


def login_cookie(settings: Settings) -> str:
    return cookie_name(settings, "nfhub_login")


def set_cookie(response: Response, settings: Settings, name: str, value: str) -> None:
    # No Max-Age: the cookie ends with the browser; the session's own limits end it sooner.
    response.set_cookie(
        name,
        value,
        path="/",
        secure=settings.COOKIE_SECURE,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name, path="/", secure=settings.COOKIE_SECURE, httponly=True, samesite="lax"
    )


def session_service_settings(settings: Settings) -> SessionSettings:
    return SessionSettings(
        idle=timedelta(seconds=settings.SESSION_IDLE_SECONDS),
        refresh_margin=timedelta(seconds=settings.ACCESS_REFRESH_MARGIN_SECONDS),
    )


def make_session_service(state: WebState, db: AsyncSession) -> SessionService:
    return SessionService(
        db,
        state.session_keys,
        state.apis,
        session_service_settings(state.settings),
    )


async def optional_session(request: Request, state: WebStateDep) -> ActiveSession | None:
    """The request's session, if its cookie names a live one.

    A short transaction of its own, not one held for the request: a page then spends most of
    its time waiting on the APIs, and a pooled connection held across that would tie the
    database pool to their latency.
    """
    secret = request.cookies.get(session_cookie(state.settings))
    if not secret:
        return None
    async with state.sessionmaker() as db, db.begin():
        return await make_session_service(state, db).resolve(secret)


OptionalSession = Annotated[ActiveSession | None, Depends(optional_session)]


async def current_session(session: OptionalSession) -> ActiveSession:
    if session is None:
        raise LoginRequired()
    return session


CurrentSession = Annotated[ActiveSession, Depends(current_session)]


async def submitted_csrf_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


def tokens_match(submitted: str | None, expected: str) -> bool:
    """Equal and not empty (a form without a token must not match a missing cookie)."""
    return (
        bool(submitted)
        and bool(expected)
        and hmac.compare_digest(str(submitted).encode("utf-8"), expected.encode("utf-8"))
    )


async def checked_session(request: Request, session: CurrentSession) -> ActiveSession:
    """The session, for a request that changes something: it must carry the session's CSRF
    token (the forms' hidden field, or htmx's X-CSRF-Token header)."""
    if request.method not in SAFE_METHODS and not tokens_match(
        await submitted_csrf_token(request), session.csrf_token
    ):
        raise CsrfRefused()
    return session


CheckedSession = Annotated[ActiveSession, Depends(checked_session)]


async def project_session(session: CurrentSession) -> ActiveSession:
    if session.project_id is None:
        raise NoProject()
    return session


ProjectSession = Annotated[ActiveSession, Depends(project_session)]


async def checked_project_session(session: CheckedSession) -> ActiveSession:
    if session.project_id is None:
        raise NoProject()
    return session


CheckedProjectSession = Annotated[ActiveSession, Depends(checked_project_session)]
