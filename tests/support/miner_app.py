"""miner in-process on a given sessionmaker, behind admin, files and compute in-process: what
tests/miner/conftest.py's per-test fixtures and the module setups (support/module_setup.py)
build."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.config import Settings
from nfhub_miner.main import create_app
from nfhub_shared.testing.transport import RoutingTransport
from support.settings import settings_of

MINER_BASE_URL = "http://miner.test"


def miner_settings_for(database_url: str) -> Settings:
    return settings_of(
        Settings,
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        # In-process apps work in the test's rolled-back transaction: admin's access
        # announcements never commit, and the TTL tests need the caches left alone.
        ACCESS_CHANGE_LISTENER=False,
        # Nor are compute's announcements of run ends: tests call the follower themselves.
        RUN_FOLLOWER=False,
        # Webhook deliveries are driven by hand (tests/miner/webhooks).
        WEBHOOK_DELIVERIES=False,
        ADMIN_URL="http://admin.test",
        FILES_URL="http://files.test",
        COMPUTE_URL="http://compute.test",
    )


@asynccontextmanager
async def running_miner_app(
    settings: Settings,
    admin_transport: httpx.AsyncBaseTransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    transport = RoutingTransport(
        {
            "admin.test": admin_transport,
            "files.test": httpx.ASGITransport(app=files_app),
            "compute.test": httpx.ASGITransport(app=compute_app),
        }
    )
    app = create_app(settings, http_transport=transport)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions
        yield app
