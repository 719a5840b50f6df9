from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    shared_template,
)

TEMPLATE_NAME = "nfhub_template"


def shared_folder(config: pytest.Config) -> Path | None:
    """Where the xdist workers of one test run keep their one embedded PostgreSQL (None when
    not under xdist, or with TEST_DATABASE_URL: each process has its own server or template).
    Outside pytest's temporary folders: pytest keeps those private to the user, and the server
    may run as another user."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or os.environ.get("TEST_DATABASE_URL"):
        return None
    return Path(tempfile.gettempdir()) / f"nfhub-test-pg-{workerinput['testrunuid']}"


@pytest.fixture(scope="session")
def nfhub_migration_dirs() -> list[Path]:
    """Override in the repo's conftest: every service's migrations directory."""
    return []


@pytest.fixture(scope="session")
def nfhub_postgres_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """The session's PostgreSQL server (embedded, or TEST_DATABASE_URL's), to make databases in.
    The xdist workers of one run share one embedded server (``shared_folder``): each would
    otherwise spend seconds of CPU on initdb and on starting and stopping its own."""
    with postgres_server(shared_folder(request.config)) as server_url:
        yield server_url


@pytest.fixture(scope="session")
def nfhub_template_database(
    request: pytest.FixtureRequest, nfhub_postgres_server: str, nfhub_migration_dirs: list[Path]
) -> Iterator[str]:
    """Every directory migrated once, into a database that is only ever copied: a copy
    (``CREATE DATABASE … TEMPLATE``) takes a few milliseconds, migrating takes seconds. On a
    shared server, the first worker migrates it for all; it goes with the server."""
    shared = shared_folder(request.config)
    if shared is not None:
        yield shared_template(
            nfhub_postgres_server,
            TEMPLATE_NAME,
            shared / "template.lock",
            lambda url: run_in_thread(lambda: _migrate_all(nfhub_migration_dirs, url)),
        )
        return
    url = create_database(nfhub_postgres_server)
    try:
        run_in_thread(lambda: _migrate_all(nfhub_migration_dirs, url))
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def nfhub_database_url(nfhub_postgres_server: str, nfhub_template_database: str) -> Iterator[str]:
    """A migrated database for the session; tests see it through a rolled-back transaction."""
    url = create_database(nfhub_postgres_server, template=nfhub_template_database)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def nfhub_fresh_database(nfhub_postgres_server: str, nfhub_template_database: str) -> Any:
    """A context manager giving a new migrated database whose changes are committed for real
    (for several processes or connections at once), dropped afterwards."""

    @contextmanager
    def fresh() -> Iterator[str]:
        url = create_database(nfhub_postgres_server, template=nfhub_template_database)
        try:
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
