from fastapi import APIRouter

from nfhub_compute.compute_envs.endpoints import router as compute_envs_router
from nfhub_compute.events.endpoints import router as events_router
from nfhub_compute.internal.endpoints import router as internal_router
from nfhub_compute.pipelines.endpoints import router as pipelines_router
from nfhub_compute.runs.endpoints import router as runs_router
from nfhub_compute.secrets.endpoints import router as secrets_router
from nfhub_compute.stream.endpoints import router as stream_router
from nfhub_compute.tower.endpoints import router as tower_router
from nfhub_compute.webhooks.endpoints import router as webhooks_router
from nfhub_compute.wes.endpoints import router as wes_router

# Events first: Nextflow posts them by the thousand, and routes are matched in order.
routers: list[APIRouter] = [
    events_router,
    pipelines_router,
    # Before runs: /runs/stream is matched ahead of /runs/{run_id}.
    stream_router,
    runs_router,
    secrets_router,
    compute_envs_router,
    tower_router,
    webhooks_router,
    internal_router,
]

# At the root, not under /api/v1: GA4GH WES's own base path.
root_routers: list[APIRouter] = [wes_router]
