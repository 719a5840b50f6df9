"""A bare service built with the shared app factory, for testing the library itself."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_shared.app import create_app
from nfhub_shared.config import BaseServiceSettings

ServiceFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def service_app(
    nfhub_database_url: str,
    admin_transport: httpx.ASGITransport,
    session_factory: async_sessionmaker[AsyncSession],
) -> ServiceFactory:
    """Build a service around ``routers``; it asks the in-process admin who callers are."""

    @asynccontextmanager
    async def build(
        routers: list[APIRouter],
        *,
        bind_to_test_transaction: bool = True,
        database_url: str | None = None,
        **overrides: Any,
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        settings = BaseServiceSettings(
            _env_file=None,
            SERVICE_NAME="probe",
            ENVIRONMENT="test",
            DATABASE_URL=database_url or nfhub_database_url,
            ADMIN_URL="http://admin.test",
            DATABASE_POOL_SIZE=2,
            DATABASE_MAX_OVERFLOW=0,
            # In-process apps work in the test's rolled-back transaction: admin's access
            # announcements never commit, and the TTL tests need the caches left alone.
            ACCESS_CHANGE_LISTENER=False,
            **overrides,
        )
        app = create_app(
            settings,
            title="probe",
            description="A service that uses only the shared library",
            routers=routers,
            http_transport=admin_transport,
        )
        async with app.router.lifespan_context(app):
            if bind_to_test_transaction:
                app.state.sessionmaker = session_factory
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://probe.test"
            ) as client:
                yield app, client

    return build
