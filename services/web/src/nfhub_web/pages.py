"""Rendering: the Jinja2 templates (autoescaped), what every page gets, and the error pages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from nfhub_shared.errors import AppError, database_unavailable, render_app_error
from nfhub_web.apis import ApiProblem, FieldError
from nfhub_web.deps import (
    CsrfRefused,
    NoProject,
    clear_cookie,
    make_session_service,
    session_cookie,
)
from nfhub_web.sessions.errors import LoginRequired
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import WebState

logger = structlog.get_logger("nfhub.web")

PACKAGE = Path(__file__).resolve().parent
# The largest offset a paged list takes from a query string (past it, a 400 page).
MAX_OFFSET = 10_000_000
templates = Jinja2Templates(directory=PACKAGE / "templates")
# Pages answered as problem+json, as every service answers them (probes read these).
MACHINE_PATHS = ("/healthz", "/readyz", "/metrics")
STATUS_TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    422: "Not valid",
    429: "Too many requests",
    502: "Bad gateway",
    503: "Service unavailable",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    """A script's JSON call (the Files page's uploads), which reads problem+json, not a page."""
    accept = request.headers.get("accept", "")
    return not is_htmx(request) and (
        "application/json" in accept or "application/problem+json" in accept
    )


def problem_response(
    status_code: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] = (),
) -> JSONResponse:
    """A refusal as RFC 9457 problem+json, for a script to show its title and detail."""
    return JSONResponse(
        {
            "title": title or STATUS_TITLES.get(status_code, "Error"),
            "status": status_code,
            "detail": detail,
            "errors": [{"field": e.field, "message": e.message} for e in errors],
        },
        status_code=status_code,
        media_type="application/problem+json",
    )


def render(
    request: Request,
    template: str,
    session: ActiveSession | None = None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        template,
        {"session": session, "csrf_token": session.csrf_token if session else None, **context},
        status_code=status_code,
    )


def error_page(
    request: Request,
    status_code: int,
    detail: str,
    *,
    session: ActiveSession | None = None,
    title: str | None = None,
    problem: ApiProblem | None = None,
) -> Response:
    """The error page; a script's JSON call gets the same refusal as problem+json."""
    if wants_json(request):
        errors = problem.errors if problem else ()
        return problem_response(status_code, detail, title=title, errors=errors)
    return render(
        request,
        "error.html",
        session,
        status_code=status_code,
        title=title or STATUS_TITLES.get(status_code, "Error"),
        status=status_code,
        detail=detail,
        problem=problem,
    )


def login_redirect(request: Request, reason: str | None = None) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    url = f"/login?next={quote(target, safe='/')}"
    if wants_json(request):
        return problem_response(
            401,
            "Your login has ended: reload the page to log in again.",
            title="Login required",
        )
    if is_htmx(request):
        # htmx follows HX-Redirect with a full page load, whatever the status.
        return Response(status_code=401, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def _field_name(location: Any) -> str:
    """``("query", "state", 0)`` → ``state``."""
    parts = [str(part) for part in location if not isinstance(part, int)]
    return parts[1] if len(parts) > 1 else (parts[0] if parts else "the request")


def install_page_errors(app: FastAPI) -> None:
    async def handle_login_required(request: Request, exc: Exception) -> Response:
        return login_redirect(request)

    async def handle_no_project(request: Request, exc: Exception) -> Response:
        if is_htmx(request):
            return Response(status_code=409, headers={"HX-Redirect": "/context"})
        return RedirectResponse("/context", status_code=303)

    async def handle_csrf(request: Request, exc: Exception) -> Response:
        return error_page(
            request,
            403,
            "This form was not sent by a page of this site (its CSRF token is missing or "
            "stale). Reload the page and try again.",
            title="Request refused",
        )

    async def handle_api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        if exc.status == 401:
            # The login ended at admin (logged out elsewhere, revoked, disabled) while the
            # access token had time left: forget the session too, or the login page would
            # send the user straight back here.
            state = WebState.of(request.app)
            secret = request.cookies.get(session_cookie(state.settings))
            if secret:
                async with state.sessionmaker() as db, db.begin():
                    await make_session_service(state, db).forget(secret)
            response = login_redirect(request)
            clear_cookie(response, state.settings, session_cookie(state.settings))
            return response
        return error_page(request, exc.status, exc.detail, problem=exc)

    async def handle_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if any(error.get("loc", ("",))[0] == "path" for error in exc.errors()):
            # /runs/not-a-uuid names nothing: the same page as an id that exists nowhere.
            return error_page(request, 404, "There is no such page.")
        fields = sorted({_field_name(error.get("loc", ())) for error in exc.errors()})
        if wants_json(request):
            # The script shows which field of its body was wrong, and why.
            errors = [
                FieldError(_field_name(error.get("loc", ())), str(error.get("msg", "")))
                for error in exc.errors()
            ]
            return problem_response(
                400, f"The request is not valid: check {', '.join(fields)}.", errors=errors
            )
        return error_page(request, 400, f"The request is not valid: check {', '.join(fields)}.")

    async def handle_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path in MACHINE_PATHS:
            return render_app_error(request, AppError(str(exc.detail)))
        detail = "There is no such page." if exc.status_code == 404 else str(exc.detail)
        return error_page(request, exc.status_code, detail)

    async def handle_app_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AppError)
        if request.url.path in MACHINE_PATHS:
            return render_app_error(request, exc)
        return error_page(request, exc.status_code, exc.detail)

    async def handle_unexpected(request: Request, exc: Exception) -> Response:
        if database_unavailable(exc):
            # Every page reads its session first: the database down is a 503 to retry, as the
            # APIs answer it (nfhub_shared.errors), not a fault of ours.
            logger.error("dependency unavailable", error=type(exc).__name__)
            response = error_page(
                request, 503, "The service is not reachable right now; try again shortly."
            )
            response.headers["Retry-After"] = "5"
            return response
        logger.exception("unhandled error", error=type(exc).__name__)
        return error_page(
            request, 500, "Something went wrong on our side; try again, or tell your admin."
        )

    app.add_exception_handler(LoginRequired, handle_login_required)
    app.add_exception_handler(NoProject, handle_no_project)
    app.add_exception_handler(CsrfRefused, handle_csrf)
    app.add_exception_handler(ApiProblem, handle_api_problem)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(Exception, handle_unexpected)
