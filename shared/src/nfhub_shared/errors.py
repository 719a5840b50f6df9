"""One error hierarchy, rendered as RFC 9457 problem+json by `install_error_handlers`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://nfhub.dev/problems/"

logger = structlog.get_logger("nfhub.errors")


@dataclasses.dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of a request, raised by services that know no HTTP.

    ``location`` is left out by services: the error handler finds where ``field`` came from
    (path, query, header, else body). Give it only for places that are not part of the request
    (a row of an uploaded samplesheet); ``context`` adds the keys that place it there.
    """

    field: str | None
    message: str
    type: str = "value_error"
    location: str | None = None
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class AppError(Exception):
    """A failure the client can understand; subclasses fix status, type and title."""

    status_code = 500
    type_slug = "internal-error"
    title = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class BadRequest(AppError):
    status_code = 400
    type_slug = "bad-request"
    title = "Bad request"


class Unauthorized(AppError):
    status_code = 401
    type_slug = "unauthorized"
    title = "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("WWW-Authenticate", 'Bearer realm="nfhub", error="invalid_token"')


class Forbidden(AppError):
    status_code = 403
    type_slug = "forbidden"
    title = "Forbidden"


class NotFound(AppError):
    status_code = 404
    type_slug = "not-found"
    title = "Not found"


class MethodNotAllowed(AppError):
    status_code = 405
    type_slug = "method-not-allowed"
    title = "Method not allowed"


class Conflict(AppError):
    status_code = 409
    type_slug = "conflict"
    title = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    type_slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaType(AppError):
    status_code = 415
    type_slug = "unsupported-media-type"
    title = "Unsupported media type"


class ValidationFailed(AppError):
    status_code = 422
    type_slug = "validation-error"
    title = "Validation failed"


class RateLimited(AppError):
    status_code = 429
    type_slug = "rate-limited"
    title = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    type_slug = "service-unavailable"
    title = "Service unavailable"


_STATUS_ERRORS: dict[int, type[AppError]] = {
    cls.status_code: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        ValidationFailed,
        RateLimited,
        ServiceUnavailable,
    )
}


def problem_response(
    request: Request | None,
    *,
    status: int,
    title: str,
    detail: str,
    type_slug: str,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    error_id = uuid.uuid4().hex
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + type_slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path if request is not None else None,
        "error_id": error_id,
    }
    if errors:
        body["errors"] = list(errors)
    if extra:
        body.update(extra)
    log = logger.error if status >= 500 else logger.info
    log("problem", status=status, type=type_slug, detail=detail, error_id=error_id)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def _field_location(request: Request | None, field: str | None) -> str:
    """Where a field the service names came from: the request's path, query or headers, else
    the body (the only other place a client sends fields)."""
    if request is not None and field is not None:
        top = field.split(".", 1)[0]
        if top in request.path_params:
            return "path"
        if top in request.query_params:
            return "query"
        if top.lower() in request.headers:
            return "header"
    return "body"


def field_errors(request: Request | None, problems: Sequence[FieldProblem]) -> list[dict[str, Any]]:
    return [
        {
            "location": problem.location or _field_location(request, problem.field),
            "field": problem.field,
            "message": problem.message,
            "type": problem.type,
            **problem.context,
        }
        for problem in problems
    ]


def render_app_error(request: Request | None, exc: AppError) -> JSONResponse:
    return problem_response(
        request,
        status=exc.status_code,
        title=exc.title,
        detail=exc.detail,
        type_slug=exc.type_slug,
        errors=field_errors(request, exc.errors) if exc.errors else None,
        headers=exc.headers,
        extra=exc.extra,
    )


def _json_position(document: object, offset: int) -> tuple[int, int]:
    """Line and column (both from 1) of a character offset in the body, as json.loads counts."""
    if isinstance(document, bytes | bytearray):
        document = document.decode("utf-8", "replace")
    if not isinstance(document, str):
        return 1, offset + 1
    line = document.count("\n", 0, offset) + 1
    return line, offset - document.rfind("\n", 0, offset)


def _invalid_json(exc: RequestValidationError, error: Mapping[str, Any]) -> dict[str, Any]:
    """FastAPI puts the character offset where a field name goes (``loc: ["body", 37]``):
    answer with a line and column a person can find, and no field."""
    loc = error.get("loc", ())
    offset = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else 0
    line, column = _json_position(exc.body, offset)
    reason = (error.get("ctx") or {}).get("error")
    return {
        "location": "body",
        "field": None,
        "message": f"invalid JSON at line {line} column {column}"
        + (f": {reason}" if reason else ""),
        "type": "json_invalid",
    }


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    items = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            items.append(_invalid_json(exc, error))
            continue
        location = [str(part) for part in error.get("loc", ())]
        items.append(
            {
                "location": location[0] if location else "body",
                "field": ".".join(location[1:]) if len(location) > 1 else None,
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return items


# SQLSTATEs for text PostgreSQL cannot store (a NUL character in a string or in JSON): the
# client's input is at fault, so they are a 422, not a 500.
UNSTORABLE_TEXT_SQLSTATES = frozenset({"22021", "22P05"})
# A number or a date outside what PostgreSQL stores (datetime field overflow, numeric out of
# range): also the client's value.
OUT_OF_RANGE_SQLSTATES = frozenset({"22008", "22003"})


def _value_out_of_range(exc: DBAPIError) -> bool:
    """PostgreSQL refused a value as out of range, or asyncpg could not even encode it (a
    date that is before year 1 once in UTC, an integer beyond 64 bits): the request's value."""
    if getattr(exc.orig, "sqlstate", None) in OUT_OF_RANGE_SQLSTATES:
        return True
    cause = exc.orig.__cause__ if exc.orig is not None else None
    # asyncpg raises DataError from the codec's error; only an overflow is the value's fault
    # (a TypeError there is our bug, and stays a 500).
    return isinstance(cause, asyncpg.exceptions.DataError) and isinstance(
        cause.__cause__, OverflowError
    )


# SQLSTATEs that say the server cannot serve us right now, not that the statement was wrong:
# class 08 (connection exception), the server shutting down or starting (57P01-57P03), too
# many connections (53300).
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def _raised_by_driver(exc: BaseException) -> bool:
    """An OSError whose traceback passes through the database driver: a connection to the
    database failed (its socket missing, refused, reset), not a file of the service."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def _connection_failure(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(
        exc,
        asyncpg.exceptions.PostgresConnectionError
        | asyncpg.exceptions.CannotConnectNowError
        | asyncpg.exceptions.InterfaceError
        | asyncpg.exceptions.ConnectionDoesNotExistError,
    ):
        return True
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str) and (
        sqlstate.startswith("08") or sqlstate in UNAVAILABLE_SQLSTATES
    ):
        return True
    return isinstance(exc, OSError) and _raised_by_driver(exc)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection: whatever the layer that
    raised it (asyncpg, SQLAlchemy's wrapper, a session invalidated by it), a 503 to retry."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if _connection_failure(current):
            return True
        orig = getattr(current, "orig", None)
        pending += [
            orig if isinstance(orig, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]
    return False


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at the request's path.

    Starlette's 405 lists only the methods of the first route whose path matched, and each
    method of a path (GET and POST on /orgs) is a route of its own in FastAPI. A 405 is rare,
    so asking every route is cheap enough.
    """
    methods: set[str] = set()
    for route in request.app.router.routes:
        route_methods = getattr(route, "methods", None)
        if route_methods and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(route_methods)
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def handle_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return render_app_error(request, exc)

    async def handle_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _validation_errors(exc)
        invalid_json = next((e for e in errors if e["type"] == "json_invalid"), None)
        if invalid_json is not None:
            detail = f"The request body is not valid JSON: {invalid_json['message']}."
        else:
            fields = ", ".join(
                f"{e['location']}.{e['field']}" if e["field"] else e["location"] for e in errors
            )
            detail = f"The request is not valid: check {fields}."
        return problem_response(
            request,
            status=422,
            title=ValidationFailed.title,
            detail=detail,
            type_slug=ValidationFailed.type_slug,
            errors=errors,
        )

    async def handle_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error_cls = _STATUS_ERRORS.get(exc.status_code, AppError)
        detail = exc.detail if isinstance(exc.detail, str) else error_cls.title
        headers = dict(exc.headers or {})
        if exc.status_code == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer realm="nfhub"')
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem_response(
            request,
            status=exc.status_code,
            title=error_cls.title if error_cls is not AppError else "Error",
            detail=detail,
            type_slug=error_cls.type_slug if error_cls is not AppError else "error",
            headers=headers,
        )

    async def handle_integrity(request: Request, exc: Exception) -> JSONResponse:
        # Reaching here means a constraint the service did not check first: a race with
        # another request, most often. The client can retry or fix its input.
        return problem_response(
            request,
            status=409,
            title=Conflict.title,
            detail="The change conflicts with the current state (a concurrent update or a "
            "duplicate); reload and try again.",
            type_slug=Conflict.type_slug,
        )

    async def handle_database_down(request: Request, exc: Exception) -> JSONResponse:
        logger.error("dependency unavailable", error=type(exc).__name__)
        return problem_response(
            request,
            status=503,
            title=ServiceUnavailable.title,
            detail="A backing service (database or storage) is not reachable right now; "
            "try again shortly.",
            type_slug=ServiceUnavailable.type_slug,
            headers={"Retry-After": "5"},
        )

    async def handle_database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if database_unavailable(exc):
            return await handle_database_down(request, exc)
        if getattr(exc.orig, "sqlstate", None) in UNSTORABLE_TEXT_SQLSTATES:
            return problem_response(
                request,
                status=422,
                title=ValidationFailed.title,
                detail="The request contains text the database cannot store (such as the NUL "
                "character \\u0000); remove it and try again.",
                type_slug=ValidationFailed.type_slug,
            )
        if _value_out_of_range(exc):
            return problem_response(
                request,
                status=422,
                title=ValidationFailed.title,
                detail="A value in the request is outside what can be stored (such as a date "
                "before year 1 or after 9999 in UTC, or a number beyond 64 bits).",
                type_slug=ValidationFailed.type_slug,
            )
        return await handle_unexpected(request, exc)

    async def handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            return await handle_database_down(request, exc)
        logger.exception("unhandled error", error=type(exc).__name__)
        return problem_response(
            request,
            status=500,
            title=AppError.title,
            detail="An unexpected error occurred; quote the error_id when reporting it.",
            type_slug=AppError.type_slug,
        )

    app.add_exception_handler(AppError, handle_app_error)
    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    app.add_exception_handler(IntegrityError, handle_integrity)
    app.add_exception_handler(OperationalError, handle_database_down)
    app.add_exception_handler(InterfaceError, handle_database_down)
    app.add_exception_handler(ConnectionError, handle_database_down)
    app.add_exception_handler(TimeoutError, handle_database_down)
    # Every pooled connection busy for DATABASE_POOL_TIMEOUT_SECONDS: overloaded, retry later.
    app.add_exception_handler(PoolTimeout, handle_database_down)
    app.add_exception_handler(DBAPIError, handle_database_error)
    # Raised past SQLAlchemy's wrapping (asyncpg's own errors, an OSError while connecting, a
    # session whose connection was invalidated): 503 when the database is the cause.
    app.add_exception_handler(asyncpg.exceptions.PostgresError, handle_unexpected)
    app.add_exception_handler(asyncpg.exceptions.InterfaceError, handle_unexpected)
    app.add_exception_handler(OSError, handle_unexpected)
    app.add_exception_handler(SQLAlchemyError, handle_unexpected)
    app.add_exception_handler(Exception, handle_unexpected)
