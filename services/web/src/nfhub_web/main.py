"""web: the browser app. Server-rendered pages (Jinja2, htmx for the live parts) over the four
APIs, called as the logged-in user with tokens that never leave this process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry

from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.health import install_health
from nfhub_shared.logging import configure_logging
from nfhub_shared.middleware import EdgeMiddleware, EdgeRules, HttpMetrics
from nfhub_shared.sealing import KeyRing
from nfhub_web.apis import Apis
from nfhub_web.auth.endpoints import router as auth_router
from nfhub_web.auth.service import providers_cache
from nfhub_web.config import Settings
from nfhub_web.context.endpoints import router as context_router
from nfhub_web.files.endpoints import router as files_router
from nfhub_web.launch.endpoints import router as launch_router
from nfhub_web.members.endpoints import router as members_router
from nfhub_web.orders.endpoints import router as orders_router
from nfhub_web.pages import PACKAGE, install_page_errors
from nfhub_web.runs.endpoints import router as runs_router
from nfhub_web.samples.endpoints import router as samples_router
from nfhub_web.security import SecurityHeaders
from nfhub_web.state import WebState
from nfhub_web.subjects.endpoints import router as subjects_router
from nfhub_web.tokens.endpoints import router as tokens_router

# web has no API of its own: EdgeMiddleware's API rules (rate limits, Accept-Version) apply
# to none of its paths; the APIs it calls limit the user there.
NO_API_PREFIX = "/api/-"


def create_app(
    settings: Settings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = WebState.of(app)
        engine = create_engine(settings)
        client = httpx.AsyncClient(transport=http_transport, follow_redirects=False)
        state.engine = engine
        state.sessionmaker = create_sessionmaker(engine)
        state.http_client = client
        state.apis = Apis(
            client,
            {
                "admin": str(settings.ADMIN_URL),
                "compute": str(settings.COMPUTE_URL),
                "files": str(settings.FILES_URL),
                "miner": str(settings.MINER_URL),
            },
            settings.API_TIMEOUT_SECONDS,
        )
        try:
            yield
        finally:
            await client.aclose()
            await engine.dispose()

    app = FastAPI(
        title="nfhub web",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        root_path=settings.ROOT_PATH,
        lifespan=lifespan,
    )
    state = WebState.of(app)
    state.settings = settings
    state.session_keys = KeyRing(
        settings.SESSION_KEY.get_secret_value(),
        [key.get_secret_value() for key in settings.SESSION_OLD_KEYS],
    )
    state.metrics_registry = CollectorRegistry(auto_describe=True)
    state.login_providers = providers_cache()

    install_page_errors(app)
    routers = (auth_router, context_router, runs_router, launch_router, members_router)
    domains = (files_router, subjects_router, samples_router, orders_router)
    for router in (*routers, tokens_router, *domains):
        app.include_router(router)
    install_health(app, {})
    app.mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static")

    app.add_middleware(
        SecurityHeaders, hsts=settings.COOKIE_SECURE, connect_origins=(settings.files_origin,)
    )
    app.add_middleware(
        EdgeMiddleware,
        settings=settings,
        metrics=HttpMetrics(state.metrics_registry),
        rules=EdgeRules(NO_API_PREFIX),
    )
    return app


def run() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8005, log_config=None)
