"""Nextflow's weblog target. A bare ASGI route, not a FastAPI one nor a Starlette endpoint:
Nextflow posts every task change of every run here, and FastAPI's per-request parameter
machinery cost a fifth of the throughput, Starlette's Request and Response objects another
tenth (bench/compute.py). It is documented in OpenAPI by OPENAPI_PATHS.

Errors are raised as AppErrors like anywhere else: the app's exception middleware renders them
as problem+json, and the edge (request id, body limit, metrics, access log) is the same as for
every route."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette._utils import is_async_callable
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from nfhub_compute.events.service import EventService
from nfhub_compute.state import ComputeState
from nfhub_shared.errors import NotFound

router = APIRouter(tags=["events"])
MAX_TOKEN_CHARS = 128


def _token(query: bytes) -> str:
    """The ``token`` query parameter (the last one, as Starlette's QueryParams would give it),
    at most MAX_TOKEN_CHARS; "" without one. The URL nfhub gives Nextflow has nothing else."""
    if query.startswith(b"token=") and not any(c in query for c in b"&%+;"):
        return query[6 : 6 + MAX_TOKEN_CHARS].decode("latin-1")
    values = [
        v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == "token"
    ]
    return values[-1][:MAX_TOKEN_CHARS] if values else ""


async def _body(receive: Receive) -> bytes:
    """The request body; the edge has refused one declared too large already, and limits one
    that streams (chunked) as it comes."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class RunEventIngest:
    """Nextflow's weblog target for one run; the secret in the URL is the credential.

    An ASGI app rather than a function: Starlette hands it the scope as it is (a function
    would be wrapped in a Request and a Response)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = ComputeState.of(scope["app"])
        try:
            run_id = uuid.UUID(scope["path_params"]["run_id"])
        except ValueError as exc:
            raise NotFound("No such run: the URL is not one nfhub gave to Nextflow.") from exc
        events = EventService(state.settings, state.event_writer)
        events.authenticate(run_id, _token(scope["query_string"]))
        event = events.read(await _body(receive))
        await events.store(run_id, event)
        # New messages each time: the middleware adds its headers to them.
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


ingest_run_event = RunEventIngest()
router.routes.append(
    Route(
        "/runs/{run_id}/events",
        ingest_run_event,
        methods=["POST"],
        name="ingest_run_event",
        include_in_schema=False,
    )
)


class WeblogShortcut:
    """The weblog route found and run just inside the edge, ahead of FastAPI's exception
    middleware, its exit stack and the router's walk over every route: layers that add
    nothing to this route's requests (it has no dependencies and no response model) but cost
    each of them as much as its own work does (bench/compute.py --only ingestion).

    The edge around it is the same as for every route (request id, rate limit exemption,
    body limit, metrics, access log). The route itself matches the request, as in the
    router, and names itself in the scope. An exception before the answer started is
    rendered by the handler the app registered for it, as the exception middleware would:
    problem+json. Every other request, and a weblog path with another method (405), goes on
    to the app unchanged."""

    def __init__(self, app: ASGIApp, *, route: Route) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].endswith("/events")
        ):
            await self.app(scope, receive, send)
            return
        match, child_scope = self.route.matches(scope)
        if match is not Match.FULL:
            await self.app(scope, receive, send)
            return
        scope.update(child_scope)
        scope.setdefault("router", scope["app"].router)
        try:
            await self.route.app(scope, receive, send)
        except Exception as exc:
            # RunEventIngest answers only once everything is done: nothing was sent yet.
            handler = exception_handler(scope["app"], exc)
            if handler is None:
                raise
            request = Request(scope, receive, send)
            if is_async_callable(handler):
                response = await handler(request, exc)
            else:
                response = await run_in_threadpool(handler, request, exc)
            if response is not None:
                await response(scope, receive, send)
            exc.__traceback__ = None


def exception_handler(app: Any, exc: Exception) -> Any:
    """The handler the app's exception middleware would pick for ``exc``: for an HTTP
    exception its status's, then the first along the class's MRO. FastAPI leaves the
    catch-all ones (Exception, 500) to the server error middleware; so does this."""
    handlers = app.exception_handlers
    if isinstance(exc, StarletteHTTPException) and exc.status_code != 500:
        handler = handlers.get(exc.status_code)
        if handler is not None:
            return handler
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None


WEBLOG_EVENT_SCHEMA = {
    "type": "object",
    "description": "One event of Nextflow's weblog (-with-weblog): started, process_submitted, "
    "process_started, process_completed, error or completed. Unknown fields are ignored.",
    "properties": {
        "event": {"type": "string", "examples": ["process_completed"]},
        "runName": {"type": "string"},
        "runId": {"type": "string", "description": "Nextflow's session id (reused on resume)"},
        "utcTime": {"type": "string", "format": "date-time"},
        "metadata": {"type": "object", "description": "started/completed: workflow, parameters"},
        "trace": {"type": "object", "description": "process_* and error: the task's trace"},
    },
    "additionalProperties": True,
}
_PROBLEM = {"application/problem+json": {"schema": {"type": "object"}}}
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/runs/{run_id}/events": {
        "post": {
            "tags": ["events"],
            "summary": "Ingest Run Event",
            "description": "Nextflow's weblog target for one run; the secret in the URL is the "
            "credential.",
            "operationId": "ingest_run_event",
            "parameters": [
                {
                    "name": "run_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
                {
                    "name": "token",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "maxLength": MAX_TOKEN_CHARS},
                    "description": "The run's weblog secret (from its URL)",
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": WEBLOG_EVENT_SCHEMA}},
            },
            "responses": {
                "204": {
                    "description": "Stored (or, with nothing to store, taken as a sign of life)"
                },
                "400": {"description": "Not a JSON object; nothing stored", "content": _PROBLEM},
                "401": {"description": "The secret is not this run's", "content": _PROBLEM},
                "404": {"description": "The URL names no run", "content": _PROBLEM},
                "413": {"description": "Larger than MAX_REQUEST_BODY_BYTES", "content": _PROBLEM},
                "503": {
                    "description": "Not stored: the writer's queue is full, or the transaction "
                    "that held the event failed (Retry-After says when to post again)",
                    "content": _PROBLEM,
                },
            },
        }
    }
}
