"""web with miner in-process behind it too (the subjects, samples and orders pages), on the
test's rolled-back transaction. Import the fixtures into a test module to use them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from support.miner_app import MINER_BASE_URL, miner_settings_for, running_miner_app


@pytest_asyncio.fixture
async def miner_app(
    nfhub_database_url: str,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    async with running_miner_app(
        miner_settings_for(nfhub_database_url),
        admin_transport,
        files_app,
        compute_app,
        session_factory,
    ) as app:
        yield app


@pytest_asyncio.fixture
async def miner_client(miner_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """miner's API itself, for a test's setup and for checking what a page did."""
    transport = httpx.ASGITransport(app=miner_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=MINER_BASE_URL) as client:
        yield client


@pytest.fixture
def web_routes(
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    miner_app: FastAPI,
) -> dict[str, httpx.AsyncBaseTransport]:
    return {
        "admin.test": admin_transport,
        "files.test": httpx.ASGITransport(app=files_app),
        "compute.test": httpx.ASGITransport(app=compute_app),
        "miner.test": httpx.ASGITransport(app=miner_app),
    }
