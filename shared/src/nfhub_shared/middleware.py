"""The pure ASGI layer in front of every service: request id, access log and metrics, API
version, rate limit, body size limit."""

from __future__ import annotations

import bisect
import itertools
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nfhub_shared.auth.dependencies import AUTH_HEADERS_SCOPE_KEY, edge_principal
from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.errors import AppError, BadRequest, PayloadTooLarge, RateLimited, render_app_error
from nfhub_shared.logging import begin_request_fields, end_request_fields
from nfhub_shared.ratelimit import RateLimiter, address_key, rate_limit_category, token_key
from nfhub_shared.state import ServiceState

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SUPPORTED_API_VERSIONS = {"1"}

access_logger = structlog.get_logger("nfhub.access")

# Request ids made here: a random prefix per process (renewed in a forked child, so workers
# forked from one parent never share it) and a counter.
_request_id_prefix = os.urandom(10).hex()
_request_numbers = itertools.count(1)


def _renew_request_id_prefix() -> None:
    global _request_id_prefix
    _request_id_prefix = os.urandom(10).hex()


os.register_at_fork(after_in_child=_renew_request_id_prefix)


# prometheus_client's default latency buckets, in seconds, and their "le" labels as it
# writes them.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
_BUCKET_LABELS = (*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf")


class _RouteStats:
    __slots__ = ("buckets", "created", "statuses", "total")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0
        self.statuses: dict[str, int] = {}
        self.created = time.time()


class HttpMetrics(Collector):
    """Request counters and latencies by method, route template and status.

    Exported as prometheus_client's Counter and Histogram would export them
    (``http_requests_total``, ``http_request_duration_seconds``), but kept in plain lists:
    an observation is a dict lookup, a bisection and three additions, where the two metric
    objects take a dozen calls and three locks on every request (bench/auth.py). Only the
    event loop's thread observes, so nothing needs a lock.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._routes: dict[tuple[str, str], _RouteStats] = {}
        registry.register(self)

    def observe(self, method: str, route: str, status: str, seconds: float) -> None:
        stats = self._routes.get((method, route))
        if stats is None:
            stats = self._routes[(method, route)] = _RouteStats()
        stats.buckets[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        stats.total += seconds
        stats.statuses[status] = stats.statuses.get(status, 0) + 1

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests",
            "HTTP requests by route template, method and status",
            labels=["method", "route", "status"],
        )
        latency = HistogramMetricFamily(
            "http_request_duration_seconds",
            "HTTP request latency by route template",
            labels=["method", "route"],
        )
        for (method, route), stats in list(self._routes.items()):
            for status, count in list(stats.statuses.items()):
                requests.add_metric([method, route, status], count, created=stats.created)
            cumulative, buckets = 0, []
            for label, count in zip(_BUCKET_LABELS, stats.buckets, strict=True):
                cumulative += count
                buckets.append((label, cumulative))
            latency.add_metric([method, route], buckets, stats.total)
        yield requests
        yield latency

    def describe(self) -> Iterator[Metric]:
        return iter(())


@dataclass(frozen=True)
class EdgeRules:
    """Which paths the edge limits: read by EdgeMiddleware to enforce them and by the OpenAPI
    documents (nfhub_shared.openapi_problems) to list the 413s and 429s they cause."""

    api_prefix: str
    body_limit_exempt_prefixes: tuple[str, ...] = ()
    rate_limit_exempt: Callable[[str], bool] | None = None
    # (path prefix, bytes): paths whose bodies may be larger than MAX_REQUEST_BODY_BYTES.
    body_limit_overrides: tuple[tuple[str, int], ...] = ()
    # Path prefixes outside the API prefix that are rate limited as API calls are (WES).
    rate_limited_prefixes: tuple[str, ...] = ()

    def is_api(self, path: str) -> bool:
        return path.startswith(self.api_prefix + "/")

    def rate_limited(self, path: str) -> bool:
        if not (self.is_api(path) or path.startswith(self.rate_limited_prefixes)):
            return False
        return self.rate_limit_exempt is None or not self.rate_limit_exempt(path)

    def body_limited(self, path: str) -> bool:
        return not path.startswith(self.body_limit_exempt_prefixes)

    def body_limit(self, path: str, default: int) -> int:
        for prefix, limit in self.body_limit_overrides:
            if path.startswith(prefix):
                return limit
        return default


class EdgeMiddleware:
    """Every HTTP request's first layer: request id in and out, ``Accept-Version``, the rate
    limit of API calls, the body size limit, then the access log line and the metrics.

    One pure ASGI layer rather than four: one pass over the headers and one wrapper around
    ``send`` save a few microseconds on every request (bench/auth.py). The checks run in
    that order; every answer, refusals included, carries the request id, and every API
    answer past the version check carries the rate limit headers.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: BaseServiceSettings,
        metrics: HttpMetrics,
        rules: EdgeRules,
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.service = settings.SERVICE_NAME
        self.rules = rules
        self.max_body_bytes = settings.MAX_REQUEST_BODY_BYTES
        self.log_access = access_logger.is_enabled_for(logging.INFO)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_version = authorization = content_length = project = None
        service_call = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = authorization or value.decode("latin-1")
            elif name == b"x-nfhub-service":
                service_call = service_call or value.decode("latin-1")
            elif name == b"x-project-id":
                project = project or value.decode("latin-1")
            elif name == b"x-request-id":
                request_id = request_id or value.decode("latin-1")
            elif name == b"content-length":
                content_length = content_length or value.decode("latin-1")
            elif name == b"accept-version":
                accept_version = accept_version or value.decode("latin-1")
        if not request_id or not _SAFE_REQUEST_ID.match(request_id):
            # 32 hex digits like uuid4().hex: this process's random prefix and a counter,
            # unique without a system call for random bytes on every request.
            request_id = f"{_request_id_prefix}{next(_request_numbers):012x}"
        scope.setdefault("state", {})["request_id"] = request_id
        # Authentication reads these two again; this pass has them already.
        scope[AUTH_HEADERS_SCOPE_KEY] = (authorization, project)
        log_fields = begin_request_fields(request_id=request_id, service=self.service)
        started = time.perf_counter()
        extra_headers = [(b"x-request-id", request_id.encode())]
        status_code = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status_code, response_started
            if message["type"] == "http.response.start":
                status_code = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), *extra_headers]
            await send(message)

        try:
            refusal = _unsupported_version(accept_version)
            if refusal is None:
                refusal = await self._rate_limit(scope, authorization, service_call, extra_headers)
            path: str = scope["path"]
            body_limited = self.rules.body_limited(path)
            limit = self.rules.body_limit(path, self.max_body_bytes)
            if refusal is None and body_limited:
                refusal = self._declared_body_too_large(content_length, limit)
            if refusal is not None:
                await render_app_error(Request(scope), refusal)(scope, receive, send_with_headers)
                return
            try:
                # A declared length was checked above, and the server delivers no more than
                # it; only a body of unknown length (chunked) is counted as it streams.
                streams = body_limited and content_length is None
                app_receive = self._limited(receive, limit) if streams else receive
                await self.app(scope, app_receive, send_with_headers)
            except StarletteHTTPException as exc:
                # A body that outgrew the limit while streaming, past FastAPI's handlers.
                if exc.status_code != 413 or response_started or not body_limited:
                    raise
                await render_app_error(Request(scope), self._too_large(limit))(
                    scope, receive, send_with_headers
                )
        finally:
            elapsed = time.perf_counter() - started
            template = getattr(scope.get("route"), "path", None)
            if not isinstance(template, str):  # ids stay out of metric labels
                template = "unmatched"
            method = scope["method"]
            self.metrics.observe(method, template, str(status_code), elapsed)
            if self.log_access:
                # The path only: query strings can carry signed-URL signatures or secrets.
                access_logger.info(
                    "request",
                    method=method,
                    path=scope["path"],
                    route=template,
                    status=status_code,
                    duration_ms=round(elapsed * 1000, 2),
                )
            end_request_fields(log_fields)

    async def _rate_limit(
        self,
        scope: Scope,
        authorization: str | None,
        service_call: str | None,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> AppError | None:
        """Count the call; its X-RateLimit-* headers join ``extra_headers``."""
        path: str = scope["path"]
        settings = self.settings
        if not settings.RATE_LIMIT_ENABLED or not self.rules.rate_limited(path):
            return None
        # Another service working for its caller (X-NFHub-Service: its service token): the
        # caller's request was counted where it came in, not again here.
        if service_call is not None and ServiceState.of(
            scope["app"]
        ).service_tokens.is_service_call(service_call):
            return None
        key = None
        if authorization is not None:
            # Authenticated here, once (the route reuses the answer): a bearer that does not
            # authenticate must not get a budget of its own, or each random string would.
            principal = await edge_principal(scope, authorization)
            if principal is not None:
                if principal.kind == "service":
                    return None  # another nfhub service: its callers' budgets apply
                key = token_key(authorization)
        if key is None:
            client = scope.get("client")
            key = address_key(client[0] if client else None)
        limiter: RateLimiter = scope["app"].state.rate_limiter
        category = rate_limit_category(scope["method"], path)
        decision = await limiter.hit(key, category, settings.rate_limit(category))
        if not decision.allowed:
            caller = "token" if key.startswith("t:") else "address"
            return RateLimited(
                f"Too many {category} requests from this {caller}; retry in "
                f"{decision.reset_seconds} s.",
                headers={**decision.headers(), "Retry-After": str(decision.reset_seconds)},
            )
        extra_headers.extend(decision.raw_headers())
        return None

    def _too_large(self, limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"The request body is larger than the {limit} bytes this endpoint accepts."
        )

    def _declared_body_too_large(self, content_length: str | None, limit: int) -> AppError | None:
        if content_length is None or not content_length.isdigit():
            return None
        return self._too_large(limit) if int(content_length) > limit else None

    def _limited(self, receive: Receive, limit: int) -> Receive:
        """``receive`` refusing, with 413, a body that streams past the limit."""
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI re-raises Starlette's HTTPException from body parsing (anything
                    # else becomes a 400), and our handler renders it as a 413 problem.
                    raise StarletteHTTPException(413, self._too_large(limit).detail)
            return message

        return limited_receive


def _unsupported_version(version: str | None) -> AppError | None:
    """``Accept-Version`` absent or ``1`` is v1; anything else is a 400."""
    if version is None or version.strip() in SUPPORTED_API_VERSIONS:
        return None
    return BadRequest(
        f"Accept-Version {version[:20]!r} is not supported; this server speaks "
        f"version 1 (send 'Accept-Version: 1' or leave the header out)."
    )
