from __future__ import annotations

import functools
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.routing import Route

from nfhub_compute.api import root_routers, routers
from nfhub_compute.backends.factory import create_backend
from nfhub_compute.backends.pool import BackendPool
from nfhub_compute.config import Settings
from nfhub_compute.events.endpoints import OPENAPI_PATHS, WeblogShortcut
from nfhub_compute.events.writer import EventWriter
from nfhub_compute.models import audit_events
from nfhub_compute.pipelines.catalog import sync_catalog
from nfhub_compute.state import ComputeState
from nfhub_compute.stream.endpoints import StreamState
from nfhub_compute.stream.service import StreamHub
from nfhub_compute.tower.endpoints import MAX_BODY_BYTES as TOWER_MAX_BODY_BYTES
from nfhub_compute.wes.endpoints import WES_PREFIX
from nfhub_compute.wes.middleware import WesErrorMiddleware
from nfhub_shared.app import API_PREFIX
from nfhub_shared.app import create_app as create_service_app
from nfhub_shared.audit import AuditWriter
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.db.engine import create_engine, create_read_pool
from nfhub_shared.routing import match_first

DESCRIPTION = """
Pipelines (nf-core and your own) and their versions, with the parameter schemas that drive a
launch form; runs launched as `nextflow run` through a job backend and followed live from
Nextflow's weblog events: state, tasks, per-process progress, log and outputs; cancel,
relaunch and resume.

Every call names its project in `X-Project-ID`.
"""

TAGS = [
    {"name": "pipelines", "description": "Pipelines and versions an org can launch"},
    {"name": "runs", "description": "Runs of a project: launch, follow, cancel, relaunch"},
    {
        "name": "secrets",
        "description": "Secrets pipelines read as secrets.NAME (org and project; never shown)",
    },
    {
        "name": "compute-envs",
        "description": "Where an org's runs go: backend, folders, config, limits",
    },
    {"name": "events", "description": "Nextflow's weblog target (per-run secret, no token)"},
    {
        "name": "tower",
        "description": "Nextflow's Tower trace protocol (-with-tower): runs started anywhere "
        "report into a project; tower.endpoint = '<compute>/api/v1/tower'",
    },
    {
        "name": "webhooks",
        "description": "Run events POSTed to your URLs, signed (Standard Webhooks)",
    },
    {
        "name": "wes",
        "description": "GA4GH WES 1.1 (/ga4gh/wes/v1): launch and follow runs of registered "
        "pipelines as WES clients do; errors as WES's ErrorResponse",
    },
    {"name": "internal", "description": "Service-to-service endpoints"},
    {"name": "health", "description": "Liveness and readiness"},
]

logger = structlog.get_logger("nfhub.compute")


TOWER_PATH_PREFIX = API_PREFIX + "/tower/trace/"


def is_weblog_path(path: str) -> bool:
    """Nextflow posts every event of a run here from one address, and never retries: a rate
    limit would lose events, so these are exempt (the per-run secret guards them)."""
    return path.startswith(API_PREFIX + "/runs/") and path.endswith("/events")


def is_nextflow_path(path: str) -> bool:
    """Nextflow's own reports: the weblog, and the Tower protocol. Tower calls authenticate
    every time, but with a token the edge cannot read (Basic '@token:…'), so they would all
    count against their host's address: every run on one login node sharing one budget, a
    refused create aborting a user's run. They are exempt like the weblog."""
    return is_weblog_path(path) or path.startswith(TOWER_PATH_PREFIX)


@functools.cache  # once a process: a test session starts many apps, each would freeze more
def freeze_start_up() -> None:
    """Keep what start-up made (modules, the app, pools), which lives as long as the process,
    out of the collector's full passes: a Tower progress batch makes ~5,000 new objects and
    sets them off often (bench/compute.py --only tower prints the server CPU per call)."""
    gc.freeze()


def create_app(
    settings: Settings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ComputeState.of(app)
        state.admin_client = AdminClient(
            state.http_client, str(settings.ADMIN_URL), state.service_tokens
        )
        state.files_client = FilesClient(
            state.http_client, str(settings.FILES_URL), service_tokens=state.service_tokens
        )
        state.backend = create_backend(settings)
        state.backends = BackendPool(settings, state.backend)
        # Weblog events: written by one writer per process, many requests' events in one
        # transaction (group commit, events.writer), on a pool of their own, autocommit: a
        # batch of task events is one statement, its own transaction. The weblog is
        # best effort and the trace file read at the end of a run restores whatever it missed,
        # so these writes skip the pre-ping round trip and the wait for the WAL flush at
        # commit (synchronous_commit off: a database crash may lose the last few hundred ms
        # of events, never corrupt anything). No overflow: bursts wait for a connection.
        events_engine = create_engine(
            settings, application_name="compute-events", autocommit=True, pre_ping=False,
            pool_size=settings.EVENTS_POOL_SIZE, max_overflow=0, synchronous_commit=False,
        )  # fmt: skip
        state.events_connect = events_engine.connect
        # Looks state.events_connect up for each batch: tests put their own in after start-up.
        writer = EventWriter(
            lambda: state.events_connect(),
            max_batch=settings.EVENTS_BATCH_MAX,
            max_queue=settings.EVENTS_QUEUE_MAX,
            in_flight=settings.EVENTS_WRITERS,
        )
        state.event_writer = writer
        writer.start()
        hub = StreamHub(
            state.sessionmaker, settings.database_url, buffer_events=settings.STREAM_BUFFER_EVENTS
        )
        StreamState.of(app).stream_hub = hub
        # Hot single-statement reads (WES's status and run list): asyncpg's own pool,
        # autocommit, no pre-ping and no reset, so one round trip each instead of four (ping,
        # BEGIN, the query, COMMIT) and no SQLAlchemy connection around them. A burst waits
        # for one of its connections rather than opening (forking a backend) and closing one
        # per request.
        reads_pool = await create_read_pool(
            settings, application_name="compute-reads", size=settings.READS_POOL_SIZE
        )
        state.reads_connect = functools.partial(
            reads_pool.acquire, timeout=settings.DATABASE_POOL_TIMEOUT_SECONDS
        )
        if settings.CATALOG_FILE is not None:
            async with state.sessionmaker() as session, session.begin():
                await sync_catalog(session, settings, settings.CATALOG_FILE)
        freeze_start_up()
        try:
            yield
        finally:
            await writer.stop()
            await hub.stop()
            await state.backends.close()
            await events_engine.dispose()
            await reads_pool.close()

    app = create_service_app(
        settings,
        title="nfhub compute",
        description=DESCRIPTION,
        routers=routers,
        root_routers=root_routers,
        lifespan=lifespan,
        http_transport=http_transport,
        openapi_tags=TAGS,
        rate_limit_exempt=is_nextflow_path,
        # WES clients spend the same budgets as /api/v1 callers (a 429 in WES's shape).
        rate_limited_prefixes=(WES_PREFIX + "/",),
        # Nextflow's task batches (see tower.endpoints.MAX_BODY_BYTES).
        body_limit_overrides=((TOWER_PATH_PREFIX, TOWER_MAX_BODY_BYTES),),
        openapi_paths=OPENAPI_PATHS,
    )
    ComputeState.of(app).audit_writer = AuditWriter(audit_events)
    # Innermost of the app's own layers, just inside the edge: the weblog's requests are
    # run from there (events.endpoints.WeblogShortcut).
    weblog_route = next(
        route
        for route in app.router.routes
        if isinstance(route, Route) and route.name == "ingest_run_event"
    )
    app.user_middleware.append(Middleware(WeblogShortcut, route=weblog_route))
    # WES's routes come after every /api/v1 one: found first, by their prefix alone.
    match_first(app, WES_PREFIX + "/")
    # Outermost: WES's error shape for every refusal on its paths, the edge's included.
    app.add_middleware(WesErrorMiddleware, prefix=WES_PREFIX + "/")
    return app


def run() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8002, log_config=None)
