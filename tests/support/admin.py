"""admin in-process for every test (``admin_app``, ``admin_client``, ``admin_transport``) and
``factory``: a pytest plugin of the repo's tests (tests/conftest.py), kept out of nfhub_shared
so the shared library imports no service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.config import Settings
from nfhub_admin.main import create_app
from support.factory import Factory
from support.settings import settings_of


@pytest.fixture
def admin_settings(nfhub_database_url: str) -> Any:
    return settings_of(
        Settings,
        DATABASE_URL=nfhub_database_url,
        ENVIRONMENT="test",
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
    )


@asynccontextmanager
async def running_admin_app(
    settings: Any, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions
        yield app


@pytest_asyncio.fixture
async def admin_app(
    admin_settings: Any, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """admin in-process, every request inside the test's transaction."""
    async with running_admin_app(admin_settings, session_factory) as app:
        yield app


@pytest.fixture
def admin_transport(admin_app: FastAPI) -> httpx.ASGITransport:
    """Give this to another service's app so its calls to admin reach the in-process admin."""
    return httpx.ASGITransport(app=admin_app)


@pytest_asyncio.fixture
async def admin_client(admin_transport: httpx.ASGITransport) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=admin_transport, base_url="http://admin.test") as client:
        yield client


@pytest.fixture
def factory(session_factory: async_sessionmaker[AsyncSession], admin_app: FastAPI) -> Factory:
    return Factory(session_factory, admin_app)
