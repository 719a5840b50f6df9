"""One data setup per test module, each test inside a savepoint rolled back after it.

For modules whose tests all read (or try and fail to change) the same setup: the isolation
tables call each route once from outside with a victim built once. The module opens one
connection and one transaction (rolled back after the module); every test runs inside a
SAVEPOINT of it, rolled back after the test, so what a test changes is gone for the next one,
as with the per-test transaction of ``db_connection``. The module's apps (built once, on this
connection) answer every test of the module: their caches and rate limits live as long as the
module, as they would in a running service.

A test module takes the fixtures below by importing them (they carry the names of the per-test
fixtures, module-scoped, so the tests read as before) and listing them in ``__all__``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from support.admin import running_admin_app
from support.factory import Factory
from support.inprocess import (
    COMPUTE_BASE_URL,
    Team,
    admin_settings_for,
    compute_settings_for,
    running_compute_app,
    running_files_app,
)


@asynccontextmanager
async def module_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


def sessions_on(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    """Sessions that work in savepoints of the connection's transaction (as session_factory)."""
    return async_sessionmaker(
        bind=connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@asynccontextmanager
async def savepoint(connection: AsyncConnection) -> AsyncIterator[None]:
    """One test's changes, rolled back after it."""
    nested = await connection.begin_nested()
    try:
        yield
    finally:
        if nested.is_active:
            await nested.rollback()


@pytest.fixture(scope="module")
async def module_connection(nfhub_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with module_transaction(nfhub_engine) as connection:
        yield connection


@pytest.fixture(scope="module")
def module_sessions(module_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return sessions_on(module_connection)


@pytest.fixture(autouse=True)
async def each_test_rolled_back(module_connection: AsyncConnection) -> AsyncIterator[None]:
    async with savepoint(module_connection):
        yield


@pytest.fixture(scope="module")
def storage_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("storage")


@pytest.fixture(scope="module")
async def admin_app(
    nfhub_database_url: str, storage_root: Path, module_sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    settings = admin_settings_for(nfhub_database_url, storage_root)
    async with running_admin_app(settings, module_sessions) as app:
        yield app


@pytest.fixture(scope="module")
def admin_transport(admin_app: FastAPI) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=admin_app)


@pytest.fixture(scope="module")
def factory(module_sessions: async_sessionmaker[AsyncSession], admin_app: FastAPI) -> Factory:
    return Factory(module_sessions, admin_app)


@pytest.fixture(scope="module")
async def files_app(
    nfhub_database_url: str,
    storage_root: Path,
    admin_transport: httpx.ASGITransport,
    module_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    async with running_files_app(
        nfhub_database_url, storage_root, admin_transport, module_sessions
    ) as app:
        yield app


@pytest.fixture(scope="module")
async def compute_app(
    nfhub_database_url: str,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    module_sessions: async_sessionmaker[AsyncSession],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[FastAPI]:
    settings = compute_settings_for(nfhub_database_url, tmp_path_factory.mktemp("compute"))
    async with running_compute_app(settings, admin_transport, files_app, module_sessions) as app:
        yield app


@pytest.fixture(scope="module")
async def compute_client(compute_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=compute_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=COMPUTE_BASE_URL) as client:
        yield client


@pytest.fixture(scope="module")
async def team(factory: Factory, storage_root: Path) -> Team:
    """As support.inprocess.team, once per module."""
    owner, admin, editor, viewer = await factory.users(4)
    org_id = await factory.org(owner)
    project_id = await factory.project(
        org_id, members={admin: "admin", editor: "editor", viewer: "viewer"}
    )
    return Team(
        project_id, org_id, admin, editor, viewer, storage_root / "projects" / str(project_id)
    )


@pytest.fixture(scope="module")
async def outsiders(factory: Factory, team: Team) -> dict[str, tuple[Any, Any]]:
    """An admin of another org's project, and an admin of another project in the same org."""
    stranger = await factory.user()
    other_project = await factory.project(await factory.org(stranger), members={stranger: "admin"})
    neighbour = await factory.user()
    next_door = await factory.project(team.org_id, members={neighbour: "admin"})
    return {"other org": (stranger, other_project), "same org": (neighbour, next_door)}


async def register_hello(compute_client: httpx.AsyncClient, team: Team) -> dict[str, Any]:
    """support.inprocess's ``hello``: the test pipeline and its sample sheet."""
    from support.inprocess import HELLO_PIPELINE, SAMPLESHEET

    team.put("sheets/hello.csv", SAMPLESHEET)
    response = await compute_client.post(
        "/api/v1/pipelines",
        json={
            "slug": "hello",
            "name": "Hello (test)",
            "version": {"version": "1.0.0", "source": {"path": str(HELLO_PIPELINE)}},
        },
        headers=team.headers("admin"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
