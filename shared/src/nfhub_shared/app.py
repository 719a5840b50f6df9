"""The app factory every service uses: docs served offline, health, metrics, errors, middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

from nfhub_shared.auth.identity import IdentityResolver, RemoteIdentity
from nfhub_shared.auth.revocations import AccessChangeListener
from nfhub_shared.auth.tokens import ServiceTokens, VerifiedTokenCache
from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.docs import install_docs
from nfhub_shared.errors import install_error_handlers
from nfhub_shared.health import ReadinessCheck, install_health
from nfhub_shared.logging import configure_logging
from nfhub_shared.middleware import EdgeMiddleware, EdgeRules, HttpMetrics
from nfhub_shared.openapi import install_openapi, operation_id
from nfhub_shared.openapi_problems import COMMON_UNAUTHORIZED
from nfhub_shared.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from nfhub_shared.routing import add_routes, reserve_literals
from nfhub_shared.state import ServiceState

API_PREFIX = "/api/v1"
# What every operation may answer besides its own responses (FastAPI adds them to each).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": COMMON_UNAUTHORIZED},
    422: {"description": "Validation failed (problem+json)"},
}
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
IdentityFactory = Callable[[FastAPI], IdentityResolver]


def _remote_identity(app: FastAPI) -> IdentityResolver:
    state = ServiceState.of(app)
    settings = state.settings
    return RemoteIdentity(
        state.http_client,
        admin_url=str(settings.ADMIN_URL),
        service_tokens=state.service_tokens,
        jwks_cooldown_seconds=settings.JWKS_REFRESH_COOLDOWN_SECONDS,
        token_ttl_seconds=settings.TOKEN_CACHE_TTL_SECONDS,
        role_ttl_seconds=settings.ROLE_CACHE_TTL_SECONDS,
    )


def create_app(
    settings: BaseServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter],
    version: str = "1.0.0",
    lifespan: Lifespan | None = None,
    identity_factory: IdentityFactory = _remote_identity,
    http_transport: httpx.AsyncBaseTransport | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
    root_routers: Sequence[APIRouter] = (),
    body_limit_exempt_prefixes: tuple[str, ...] = (),
    body_limit_overrides: tuple[tuple[str, int], ...] = (),
    token_url: str | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    rate_limit_exempt: Callable[[str], bool] | None = None,
    rate_limited_prefixes: tuple[str, ...] = (),
    openapi_paths: Mapping[str, Mapping[str, Any]] | None = None,
) -> FastAPI:
    """Build a service: ``routers`` go under /api/v1 with rate limits, ``root_routers`` at /.

    ``http_transport`` lets tests route service-to-service HTTP to an in-process app.
    ``readiness_checks`` are what /readyz checks after the database, by name (``storage``).
    ``rate_limit_exempt`` names API paths that are not rate limited (they have their own guard).
    ``rate_limited_prefixes`` are paths outside /api/v1 that are (another API: compute's WES).
    ``body_limit_overrides`` gives path prefixes a body limit of their own (bytes) in place of
    MAX_REQUEST_BODY_BYTES.
    ``openapi_paths`` documents plain Starlette routes (hot paths kept out of FastAPI's
    per-request machinery), which FastAPI cannot describe itself.
    """
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            state = ServiceState.of(app)
            engine = create_engine(settings)
            stack.push_async_callback(engine.dispose)
            state.engine = engine
            state.sessionmaker = create_sessionmaker(engine)
            client = httpx.AsyncClient(transport=http_transport, follow_redirects=False)
            stack.push_async_callback(client.aclose)
            state.http_client = client
            state.rate_limiter = _make_rate_limiter(settings)
            stack.push_async_callback(state.rate_limiter.close)
            state.identity = identity_factory(app)
            if settings.ACCESS_CHANGE_LISTENER and isinstance(state.identity, RemoteIdentity):
                listener = AccessChangeListener(settings.database_url, state.identity)
                listener.start()
                stack.push_async_callback(listener.stop)
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            yield

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        root_path=settings.ROOT_PATH,
        lifespan=app_lifespan,
        openapi_tags=openapi_tags,
        separate_input_output_schemas=False,
        telemetry={
            "tracing": settings.OPENTELEMETRY,
            "metrics": settings.OPENTELEMETRY,
            "logs": settings.OPENTELEMETRY,
        },
        responses=dict(COMMON_RESPONSES),
        generate_unique_id_function=operation_id,
    )
    state = ServiceState.of(app)
    state.settings = settings
    state.service_tokens = ServiceTokens(
        settings.SERVICE_SECRET.get_secret_value(), settings.SERVICE_NAME
    )
    state.metrics_registry = CollectorRegistry(auto_describe=True)
    state.verified_tokens = VerifiedTokenCache(settings.TOKEN_CACHE_TTL_SECONDS)

    install_error_handlers(app)
    # One set of rules: the middleware enforces them, the OpenAPI document lists their answers.
    edge_rules = EdgeRules(
        API_PREFIX,
        body_limit_exempt_prefixes,
        rate_limit_exempt,
        body_limit_overrides,
        rate_limited_prefixes,
    )
    install_openapi(
        app,
        token_url or f"{str(settings.ADMIN_URL).rstrip('/')}/api/v1/auth/token",
        openapi_paths or {},
        edge_rules,
    )
    # API routes first: almost every request is for one of them.
    for router in routers:
        add_routes(app, router, API_PREFIX)
    install_docs(app, title)
    install_health(app, readiness_checks or {})
    for router in root_routers:
        add_routes(app, router, "")
    reserve_literals(app)

    app.add_middleware(
        EdgeMiddleware,
        settings=settings,
        metrics=HttpMetrics(state.metrics_registry),
        rules=edge_rules,
    )
    return app


def _make_rate_limiter(settings: BaseServiceSettings) -> RateLimiter:
    if settings.REDIS_URL is not None:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.REDIS_URL.get_secret_value())
        return RedisRateLimiter(redis, settings.RATE_LIMIT_WINDOW_SECONDS)
    return InProcessRateLimiter(settings.RATE_LIMIT_WINDOW_SECONDS)
