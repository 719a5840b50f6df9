"""The app factory every service uses: docs served offline, health, metrics, errors, middleware."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from importlib.resources import files
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis.asyncio import Redis
from sqlalchemy import text
from starlette.routing import Match, Route
from starlette.types import Scope

from nfhub_shared.auth.dependencies import BEARER_SCHEME, PROJECT_HEADER, ProjectRoleAuth
from nfhub_shared.auth.identity import IdentityResolver, RemoteIdentity
from nfhub_shared.auth.scopes import SCOPES
from nfhub_shared.auth.tokens import ServiceTokens, VerifiedTokenCache
from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.errors import ServiceUnavailable, install_error_handlers
from nfhub_shared.logging import configure_logging
from nfhub_shared.middleware import EdgeMiddleware, EdgeRules, HttpMetrics
from nfhub_shared.openapi_problems import COMMON_UNAUTHORIZED, PROJECT_NOT_FOUND, document_problems
from nfhub_shared.ratelimit import InProcessRateLimiter, RateLimiter, RedisRateLimiter
from nfhub_shared.routing import AuthFirstRoute

API_PREFIX = "/api/v1"
# What every operation may answer besides its own responses (FastAPI adds them to each).
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": COMMON_UNAUTHORIZED},
    422: {"description": "Validation failed (problem+json)"},
}
OAUTH2_SCHEME = "OAuth2Password"
STATIC_PATH = "/_static"

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
IdentityFactory = Callable[[FastAPI], IdentityResolver]
# A dependency /readyz checks besides the database: raises when it is not usable.
ReadinessCheck = Callable[[FastAPI], Awaitable[None]]
READINESS_TIMEOUT_SECONDS = 5.0


def _docs_static_dir() -> str:
    return str(files("fastapi_offline") / "static")


def _install_docs(app: FastAPI, title: str) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=_docs_static_dir()), name="docs-static")

    def static_url(request: Request, name: str) -> str:
        return f"{request.scope.get('root_path', '')}{STATIC_PATH}/{name}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} — Swagger UI",
            oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
            swagger_js_url=static_url(request, "swagger-ui-bundle.js"),
            swagger_css_url=static_url(request, "swagger-ui.css"),
            swagger_favicon_url=static_url(request, "favicon.png"),
            swagger_ui_parameters={"persistAuthorization": True, "displayRequestDuration": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        response = get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{title} — ReDoc",
            redoc_js_url=static_url(request, "redoc.standalone.js"),
            redoc_favicon_url=static_url(request, "favicon.png"),
            with_google_fonts=False,
        )
        # ReDoc 2 always draws a logo from its CDN; the policy keeps the page offline.
        response.headers["Content-Security-Policy"] = "img-src 'self' data:"
        return response


def _install_health(app: FastAPI, readiness_checks: Mapping[str, ReadinessCheck]) -> None:
    @app.get("/healthz", include_in_schema=True, tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=True, tags=["health"])
    async def readyz(request: Request) -> dict[str, str]:
        """Readiness: the database and the service's other dependencies answer."""
        try:
            async with request.app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any failure means "not ready", whatever its kind
            raise ServiceUnavailable("The database is not reachable.") from exc
        ready = {"status": "ready", "database": "ok"}
        for name, check in readiness_checks.items():
            try:
                async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
                    await check(request.app)
            except ServiceUnavailable:
                raise
            except TimeoutError as exc:
                raise ServiceUnavailable(
                    f"The {name} did not answer within {READINESS_TIMEOUT_SECONDS:g} s."
                ) from exc
            except Exception as exc:
                raise ServiceUnavailable(f"The {name} is not usable.") from exc
            ready[name] = "ok"
        return ready

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return Response(
            generate_latest(request.app.state.metrics_registry), media_type=CONTENT_TYPE_LATEST
        )


def _install_oauth2_alternative(
    app: FastAPI,
    token_url: str,
    extra_paths: Mapping[str, Mapping[str, Any]],
    edge_rules: EdgeRules,
) -> None:
    """Offer username/password login with scopes in Swagger's Authorize, beside the bearer box.

    Every operation secured by the bearer scheme also accepts the OAuth2 password scheme with
    the same scopes; both carry the same access token, so this costs nothing at request time.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        for path, operations in extra_paths.items():
            schema.setdefault("paths", {}).setdefault(path, {}).update(operations)
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[OAUTH2_SCHEME] = {
            "type": "oauth2",
            "description": "Log in with username and password (admin service), with scopes.",
            "flows": {"password": {"tokenUrl": token_url, "scopes": SCOPES}},
        }
        project_scoped = _project_scoped_operations(app)
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                if (path, method) in project_scoped:
                    document_project_header(operation)
                for requirement in list(operation.get("security", [])):
                    if BEARER_SCHEME in requirement:
                        operation["security"].append({OAUTH2_SCHEME: requirement[BEARER_SCHEME]})
        document_problems(schema, edge_rules)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_routes(app: FastAPI, router: APIRouter, prefix: str) -> None:
    """Put the router's routes on the app itself, under ``prefix``.

    ``include_router`` keeps each router as a branch that FastAPI matches lazily, walking the
    branch's routes twice for every request that reaches it; on the app's own list a request
    is matched once, which saves ~15 µs a request (bench/auth.py). The routes are rebuilt
    from their own settings, as ``include_router`` did before it kept branches.
    """
    for route in router.routes:
        if isinstance(route, APIRoute):
            app.router.add_api_route(
                prefix + route.path,
                route.endpoint,
                response_model=route.response_model,
                status_code=route.status_code,
                tags=route.tags,
                dependencies=route.dependencies,
                summary=route.summary,
                description=route.description,
                response_description=route.response_description,
                responses=route.responses,
                deprecated=route.deprecated,
                methods=route.methods,
                operation_id=route.operation_id,
                response_model_include=route.response_model_include,
                response_model_exclude=route.response_model_exclude,
                response_model_by_alias=route.response_model_by_alias,
                response_model_exclude_unset=route.response_model_exclude_unset,
                response_model_exclude_defaults=route.response_model_exclude_defaults,
                response_model_exclude_none=route.response_model_exclude_none,
                include_in_schema=route.include_in_schema,
                response_class=route.response_class,
                name=route.name,
                callbacks=route.callbacks,
                openapi_extra=route.openapi_extra,
                generate_unique_id_function=route.generate_unique_id_function,
                strict_content_type=route.strict_content_type,
                max_body_size=route.max_body_size,
                form_limits=route.form_limits or None,
                # A router's own route class wins; plain routes run authentication first.
                route_class_override=AuthFirstRoute if type(route) is APIRoute else type(route),
            )
        elif type(route) is Route:
            app.router.routes.append(
                TemplatedRoute(
                    prefix + route.path,
                    route.endpoint,
                    methods=sorted(route.methods) if route.methods else None,
                    name=route.name,
                    include_in_schema=route.include_in_schema,
                )
            )
        else:
            raise TypeError(f"{type(route).__name__} {route!r} cannot be added under {prefix!r}")


class TemplatedRoute(Route):
    """A plain Starlette route that names itself in the scope, as FastAPI's routes do: the
    metrics and the access log label its requests by its template, not as unmatched."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def _uses_project_role(dependant: Dependant) -> bool:
    if isinstance(dependant.call, ProjectRoleAuth):
        return True
    return any(_uses_project_role(sub) for sub in dependant.dependencies)


def _project_scoped_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation that reads X-Project-ID through ProjectRoleAuth."""
    return {
        (route.path_format, method.lower())
        for route in app.routes
        if isinstance(route, APIRoute) and _uses_project_role(route.dependant)
        for method in route.methods or ()
    }


def document_project_header(operation: dict[str, Any]) -> None:
    """ProjectRoleAuth reads X-Project-ID itself (cheaper than a declared parameter, and its
    absence is our 400 problem rather than a generic 422); to clients it is a required UUID."""
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("in") == "header" and p.get("name") == PROJECT_HEADER for p in parameters):
        parameters.append(
            {
                "name": PROJECT_HEADER,
                "in": "header",
                "required": True,
                "schema": {"type": "string", "format": "uuid", "title": PROJECT_HEADER},
                "description": "The project this call works in.",
            }
        )
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "400", {"description": "X-Project-ID missing or not a UUID (problem+json)"}
    )
    responses.setdefault("404", {"description": PROJECT_NOT_FOUND})


def _remote_identity(app: FastAPI) -> IdentityResolver:
    settings: BaseServiceSettings = app.state.settings
    return RemoteIdentity(
        app.state.http_client,
        admin_url=str(settings.ADMIN_URL),
        service_tokens=app.state.service_tokens,
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
    token_url: str | None = None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    rate_limit_exempt: Callable[[str], bool] | None = None,
    openapi_paths: Mapping[str, Mapping[str, Any]] | None = None,
) -> FastAPI:
    """Build a service: ``routers`` go under /api/v1 with rate limits, ``root_routers`` at /.

    ``http_transport`` lets tests route service-to-service HTTP to an in-process app.
    ``readiness_checks`` are what /readyz checks after the database, by name (``storage``).
    ``rate_limit_exempt`` names API paths that are not rate limited (they have their own guard).
    ``openapi_paths`` documents plain Starlette routes (hot paths kept out of FastAPI's
    per-request machinery), which FastAPI cannot describe itself.
    """
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            engine = create_engine(settings)
            stack.push_async_callback(engine.dispose)
            app.state.engine = engine
            app.state.sessionmaker = create_sessionmaker(engine)
            client = httpx.AsyncClient(transport=http_transport, follow_redirects=False)
            stack.push_async_callback(client.aclose)
            app.state.http_client = client
            app.state.rate_limiter = _make_rate_limiter(settings)
            stack.push_async_callback(app.state.rate_limiter.close)
            app.state.identity = identity_factory(app)
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
    )
    app.state.settings = settings
    app.state.service_tokens = ServiceTokens(
        settings.SERVICE_SECRET.get_secret_value(), settings.SERVICE_NAME
    )
    app.state.metrics_registry = CollectorRegistry(auto_describe=True)
    app.state.verified_tokens = VerifiedTokenCache(settings.TOKEN_CACHE_TTL_SECONDS)

    install_error_handlers(app)
    # One set of rules: the middleware enforces them, the OpenAPI document lists their answers.
    edge_rules = EdgeRules(API_PREFIX, body_limit_exempt_prefixes, rate_limit_exempt)
    _install_oauth2_alternative(
        app,
        token_url or f"{str(settings.ADMIN_URL).rstrip('/')}/api/v1/auth/token",
        openapi_paths or {},
        edge_rules,
    )
    # API routes first: almost every request is for one of them.
    for router in routers:
        _add_routes(app, router, API_PREFIX)
    _install_docs(app, title)
    _install_health(app, readiness_checks or {})
    for router in root_routers:
        _add_routes(app, router, "")

    app.add_middleware(
        EdgeMiddleware,
        settings=settings,
        metrics=HttpMetrics(app.state.metrics_registry),
        rules=edge_rules,
    )
    return app


def _make_rate_limiter(settings: BaseServiceSettings) -> RateLimiter:
    if settings.REDIS_URL is not None:
        redis = Redis.from_url(settings.REDIS_URL.get_secret_value())
        return RedisRateLimiter(redis, settings.RATE_LIMIT_WINDOW_SECONDS)
    return InProcessRateLimiter(settings.RATE_LIMIT_WINDOW_SECONDS)
