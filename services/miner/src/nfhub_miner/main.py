from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from nfhub_miner.api import routers
from nfhub_miner.compute_client import ComputeClient
from nfhub_miner.config import Settings
from nfhub_miner.models import audit_events
from nfhub_miner.orders.follower import RunFollower, RunFollowerTask
from nfhub_miner.samples.endpoints import IMPORT_PATH
from nfhub_miner.state import MinerState
from nfhub_miner.webhooks.delivery import webhook_delivery
from nfhub_shared.app import create_app as create_service_app
from nfhub_shared.audit import AuditWriter
from nfhub_shared.clients import AdminClient, FilesClient

DESCRIPTION = """
A lab's metadata and how it becomes pipeline input: subjects, samples with their files (in the
project's storage), orders that run a pipeline on samples, moved through
created → analyzing → review → sign_off → completed (an order whose run completes moves to
review by itself; a failed run is recorded on the order), pipeline-ready sampleinfo, and nf-core
samplesheets built from each pipeline's own schema.

Every call names its project in `X-Project-ID`.
"""

TAGS = [
    {"name": "subjects", "description": "Who samples come from"},
    {"name": "samples", "description": "Samples, their files, bulk import, sampleinfo"},
    {"name": "orders", "description": "Orders, their samples, status machine, samplesheets"},
    {
        "name": "webhooks",
        "description": "Order moves POSTed to your URLs, signed (Standard Webhooks)",
    },
    {"name": "health", "description": "Liveness and readiness"},
]


def create_app(
    settings: Settings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = MinerState.of(app)
        state.admin_client = AdminClient(
            state.http_client, str(settings.ADMIN_URL), state.service_tokens
        )
        state.files_client = FilesClient(
            state.http_client, str(settings.FILES_URL), service_tokens=state.service_tokens
        )
        state.compute_client = ComputeClient(
            state.http_client, str(settings.COMPUTE_URL), service_tokens=state.service_tokens
        )
        state.run_follower = RunFollower(
            lambda: state.sessionmaker, state.audit_writer, state.compute_client
        )
        follower = None
        if settings.RUN_FOLLOWER:
            follower = RunFollowerTask(
                state.run_follower, settings.database_url, settings.RUN_SWEEP_SECONDS
            )
            follower.start()
        # Order webhooks: miner has no worker, so each API process runs the delivery loop.
        deliveries = None
        if settings.WEBHOOK_DELIVERIES:
            deliveries = webhook_delivery(settings, lambda: state.sessionmaker)
            deliveries.start()
        try:
            yield
        finally:
            if deliveries is not None:
                await deliveries.stop()
                await deliveries.deliverer.http.aclose()
            if follower is not None:
                await follower.stop()

    app = create_service_app(
        settings,
        title="nfhub miner",
        description=DESCRIPTION,
        routers=routers,
        lifespan=lifespan,
        http_transport=http_transport,
        openapi_tags=TAGS,
        # Imports have their own, larger limit (MINER_IMPORT_MAX_BYTES).
        body_limit_exempt_prefixes=(IMPORT_PATH,),
    )
    MinerState.of(app).audit_writer = AuditWriter(audit_events)
    return app


def run() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8004, log_config=None)
