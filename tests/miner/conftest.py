"""miner in-process, with admin, files and compute in-process behind it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.config import Settings
from support.inprocess import (
    FIXTURES,
    Team,
    admin_settings,
    compute_app,
    compute_client,
    compute_settings,
    fake_nextflow_on_path,
    files_app,
    hello,
    launch,
    register_pipeline,
    set_run,
    storage_root,
    team,
)
from support.miner_app import MINER_BASE_URL, miner_settings_for, running_miner_app
from support.require import require_dir

__all__ = [
    "admin_settings",
    "compute_app",
    "compute_client",
    "compute_settings",
    "fake_nextflow_on_path",
    "files_app",
    "hello",
    "launch",
    "register_pipeline",
    "set_run",
    "storage_root",
    "team",
]

PROBLEM_JSON = "application/problem+json"
NF_CORE = FIXTURES / "nf-core"


@pytest.fixture
def miner_settings(nfhub_database_url: str) -> Settings:
    return miner_settings_for(nfhub_database_url)


@pytest_asyncio.fixture
async def miner_app(
    miner_settings: Settings,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    async with running_miner_app(
        miner_settings, admin_transport, files_app, compute_app, session_factory
    ) as app:
        yield app


@pytest_asyncio.fixture
async def miner_client(miner_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=miner_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=MINER_BASE_URL) as client:
        yield client


Post = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make(miner_client: httpx.AsyncClient, team: Team) -> Post:
    """POST a body to a miner collection as the editor; the 201 body."""

    async def post(collection: str, **body: Any) -> dict[str, Any]:
        response = await miner_client.post(
            f"/api/v1/{collection}", json=body, headers=team.headers("editor")
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return post


def upload_fastqs(team: Team, *names: str) -> list[str]:
    """FASTQ files in the project's storage (raw/<name>), as if uploaded."""
    paths = []
    for name in names:
        team.put(f"raw/{name}", b"@r1\nACGT\n+\nIIII\n")
        paths.append(f"raw/{name}")
    return paths


@pytest.fixture
def fastqs(team: Team) -> Callable[..., list[str]]:
    def put(*names: str) -> list[str]:
        return upload_fastqs(team, *names)

    return put


@pytest.fixture
def nf_core() -> Path:
    return require_dir(NF_CORE, "the nf-core fixtures")


@pytest.fixture
def set_sample(session_factory: async_sessionmaker[AsyncSession]) -> Callable[..., Awaitable[None]]:
    """Change a sample's row directly (an older creation time, say)."""
    import uuid

    from sqlalchemy import update

    from nfhub_miner.models import Sample

    async def apply(sample_id: str, **values: Any) -> None:
        async with session_factory() as session, session.begin():
            await session.execute(
                update(Sample).where(Sample.id == uuid.UUID(sample_id)).values(**values)
            )

    return apply
