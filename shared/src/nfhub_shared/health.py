"""Liveness, readiness (the database and the service's own dependencies) and metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from nfhub_shared.errors import ServiceUnavailable
from nfhub_shared.state import ServiceState

# A dependency /readyz checks besides the database: raises when it is not usable.
ReadinessCheck = Callable[[FastAPI], Awaitable[None]]
READINESS_TIMEOUT_SECONDS = 5.0


def install_health(app: FastAPI, readiness_checks: Mapping[str, ReadinessCheck]) -> None:
    @app.get("/healthz", include_in_schema=True, tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=True, tags=["health"])
    async def readyz(request: Request) -> dict[str, str]:
        """Readiness: the database and the service's other dependencies answer."""
        try:
            async with ServiceState.of(request.app).engine.connect() as connection:
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
            generate_latest(ServiceState.of(request.app).metrics_registry),
            media_type=CONTENT_TYPE_LATEST,
        )
