"""web in-process, with admin, files and compute in-process behind it (RoutingTransport), all
on the test's rolled-back transaction; a browser-like client (cookies, HTTPS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_shared.testing.transport import RoutingTransport
from nfhub_web.config import Settings
from nfhub_web.main import create_app
from support.inprocess import (
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
from support.web import WEB_BASE_URL, logged_in, web_settings_for

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


@pytest.fixture
def web_settings(nfhub_database_url: str) -> Settings:
    return web_settings_for(nfhub_database_url)


@pytest.fixture
def web_routes(
    admin_transport: httpx.ASGITransport, files_app: FastAPI, compute_app: FastAPI
) -> dict[str, httpx.AsyncBaseTransport]:
    """The services web reaches, by host. Modules whose pages call admin alone override it
    with ``admin_only``: files and compute in-process cost a second of setup per test."""
    return {
        "admin.test": admin_transport,
        "files.test": httpx.ASGITransport(app=files_app),
        "compute.test": httpx.ASGITransport(app=compute_app),
    }


@pytest_asyncio.fixture
async def web_app(
    web_settings: Settings,
    web_routes: dict[str, httpx.AsyncBaseTransport],
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    app = create_app(web_settings, http_transport=RoutingTransport(web_routes))
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = session_factory
        yield app


@pytest_asyncio.fixture
async def browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser's view of web: HTTPS, cookies kept, redirects not followed."""
    transport = httpx.ASGITransport(app=web_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=WEB_BASE_URL) as client:
        yield client


@pytest_asyncio.fixture
async def editor_browser(browser: httpx.AsyncClient, team: Team) -> httpx.AsyncClient:
    """Logged in as the team's editor, the team's project picked."""
    await logged_in(browser, team.editor, team.project_id)
    return browser


@pytest_asyncio.fixture
async def admin_browser(browser: httpx.AsyncClient, team: Team) -> httpx.AsyncClient:
    """Logged in as the team's project admin, the team's project picked."""
    await logged_in(browser, team.admin, team.project_id)
    return browser
