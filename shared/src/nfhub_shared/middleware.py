"""Pure ASGI middleware: request id, access log and metrics, API version, body size limit."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nfhub_shared.errors import AppError, BadRequest, PayloadTooLarge, render_app_error

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SUPPORTED_API_VERSIONS = {"1"}

access_logger = structlog.get_logger("nfhub.access")


class HttpMetrics:
    """Request counters and latencies; labelled children are kept (``labels()`` is slow)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=registry,
        )

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._counters[(method, route, status)] = self.requests.labels(
                method, route, status
            )
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[(method, route)] = self.latency.labels(method, route)
        counter.inc()
        timer.observe(seconds)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _send_problem(scope: Scope, send: Send, receive: Receive, error: AppError) -> None:
    await render_app_error(Request(scope), error)(scope, receive, send)


class RequestContextMiddleware:
    """Request id in and out, structured access log, Prometheus metrics."""

    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics, service: str, api_prefix: str
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.service = service
        self.api_prefix = api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id, service=self.service)
        status_code = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            template = self._route_template(scope)
            method = scope.get("method", "")
            self.metrics.observe(method, template, str(status_code), elapsed)
            # The path only: query strings can carry signed-URL signatures or per-run secrets.
            access_logger.info(
                "request",
                method=method,
                path=scope.get("path"),
                route=template,
                status=status_code,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.clear_contextvars()

    def _route_template(self, scope: Scope) -> str:
        """The matched route's template (ids stay out of metric labels)."""
        template = getattr(scope.get("route"), "path", None)
        if not isinstance(template, str):
            return "unmatched"
        # Routes of routers included under the API prefix report their path without it.
        path = str(scope.get("path", ""))
        if path.startswith(self.api_prefix + "/") and not template.startswith(self.api_prefix):
            return self.api_prefix + template
        return template


class ApiVersionMiddleware:
    """``Accept-Version`` absent or ``1`` is v1; anything else is a 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            version = _header(scope, b"accept-version")
            if version is not None and version.strip() not in SUPPORTED_API_VERSIONS:
                error = BadRequest(
                    f"Accept-Version {version[:20]!r} is not supported; this server speaks "
                    f"version 1 (send 'Accept-Version: 1' or leave the header out)."
                )
                await _send_problem(scope, send, receive, error)
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit with 413, whether Content-Length says so or the stream does."""

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, exempt_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(
            f"The request body is larger than the {self.max_bytes} bytes this endpoint accepts."
        )
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(scope, send, receive, too_large)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # FastAPI re-raises Starlette's HTTPException from body parsing (anything
                    # else becomes a 400), and our handler renders it as a 413 problem.
                    raise StarletteHTTPException(413, too_large.detail)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except StarletteHTTPException as exc:
            if exc.status_code != 413 or response_started:
                raise
            await _send_problem(scope, send, receive, too_large)
