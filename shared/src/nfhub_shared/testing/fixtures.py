from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool

from nfhub_shared.db.migrations import upgrade
from nfhub_shared.testing.database import (
    create_database,
    drop_database,
    postgres_server,
    run_in_thread,
)
from nfhub_shared.testing.factory import Factory

if TYPE_CHECKING:
    from fastapi import FastAPI


@pytest.fixture(scope="session")
def nfhub_migration_dirs() -> list[Path]:
    """Override in the repo's conftest: every service's migrations directory."""
    return []


@pytest.fixture(scope="session")
def nfhub_postgres_server() -> Iterator[str]:
    """The session's PostgreSQL server (embedded, or TEST_DATABASE_URL's), to make databases in."""
    with postgres_server() as server_url:
        yield server_url


@pytest.fixture(scope="session")
def nfhub_database_url(
    nfhub_postgres_server: str, nfhub_migration_dirs: list[Path]
) -> Iterator[str]:
    """A migrated database for the session; tests see it through a rolled-back transaction."""
    url = create_database(nfhub_postgres_server)
    try:
        run_in_thread(lambda: _migrate_all(nfhub_migration_dirs, url))
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def nfhub_fresh_database(nfhub_postgres_server: str, nfhub_migration_dirs: list[Path]) -> Any:
    """A context manager giving a new migrated database whose changes are committed for real
    (for several processes or connections at once), dropped afterwards."""

    @contextmanager
    def fresh() -> Iterator[str]:
        url = create_database(nfhub_postgres_server)
        try:
            run_in_thread(lambda: _migrate_all(nfhub_migration_dirs, url))
            yield url
        finally:
            drop_database(url)

    return fresh


def _migrate_all(directories: list[Path], url: str) -> None:
    for directory in directories:
        upgrade(directory, url)


@pytest_asyncio.fixture(scope="session")
async def nfhub_engine(nfhub_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(nfhub_database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture
async def db_connection(nfhub_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The test's connection, inside a transaction that is rolled back at the end."""
    async with nfhub_engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            if transaction.is_active:
                await transaction.rollback()


@pytest.fixture
def session_factory(db_connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        bind=db_connection,
        join_transaction_mode="create_savepoint",
        expire_on_commit=False,
        autoflush=False,
    )


@pytest_asyncio.fixture
async def db_session(
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
def admin_settings(nfhub_database_url: str) -> Any:
    from nfhub_admin.config import Settings

    return Settings(
        DATABASE_URL=nfhub_database_url,
        ENVIRONMENT="test",
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        _env_file=None,
    )


@pytest_asyncio.fixture
async def admin_app(
    admin_settings: Any, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[FastAPI]:
    """admin in-process, every request inside the test's transaction."""
    from nfhub_admin.main import create_app

    app = create_app(admin_settings)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = session_factory
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
