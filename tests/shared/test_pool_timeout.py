"""Every pooled connection busy: a request waits DATABASE_POOL_TIMEOUT_SECONDS, then gets a 503
problem with Retry-After instead of hanging for SQLAlchemy's 30 s and then failing with a 500."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from sqlalchemy import text

from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.state import ServiceState

router = APIRouter(prefix="/probe", tags=["probe"])


@router.get("/db")
async def read_database(session: AsyncSessionDep) -> dict[str, int]:
    """One query in the request's transaction."""
    return {"value": int(await session.scalar(text("SELECT 1")) or 0)}


async def test_a_request_that_finds_the_pool_full_gets_a_503_soon(service_app: Any) -> None:
    async with service_app(
        [router], bind_to_test_transaction=False, DATABASE_POOL_TIMEOUT_SECONDS=0.3
    ) as (app, client):
        engine = ServiceState.of(app).engine
        assert (await client.get("/api/v1/probe/db")).status_code == 200
        held = [await engine.connect() for _ in range(2)]  # the whole pool (2, no overflow)
        try:
            started = time.monotonic()
            response = await client.get("/api/v1/probe/db")
            waited = time.monotonic() - started
        finally:
            for connection in held:
                await connection.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"]
    assert 0.25 < waited < 5
