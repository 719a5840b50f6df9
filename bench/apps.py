"""The two apps bench/auth.py compares, started by uvicorn as factories.

``bare_app``: plain FastAPI returning the JSON. ``guarded_app``: the same endpoint in an nfhub
service (the shared app factory's full middleware stack, rate limit, JWT verified against
admin's JWKS, project role from the 60 s cache).
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, FastAPI

from nfhub_shared.app import create_app
from nfhub_shared.auth.dependencies import ProjectViewer
from nfhub_shared.config import BaseServiceSettings

PROJECT_ID = os.environ.get("BENCH_PROJECT_ID", "00000000-0000-0000-0000-000000000000")


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/whoami")
    async def whoami() -> dict[str, Any]:
        return {"project_id": PROJECT_ID, "role": "admin"}

    return app


def guarded_app() -> FastAPI:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(access: ProjectViewer) -> dict[str, Any]:
        return {"project_id": str(access.project_id), "role": access.role.value}

    @router.get("/anonymous")
    async def anonymous() -> dict[str, Any]:
        # Same stack (request id, access log, metrics, rate limit), no authentication: the
        # difference to /whoami is what authentication itself costs.
        return {"project_id": PROJECT_ID, "role": "admin"}

    settings = BaseServiceSettings(SERVICE_NAME="bench", LOG_LEVEL="WARNING")
    return create_app(settings, title="bench", description="auth benchmark", routers=[router])
