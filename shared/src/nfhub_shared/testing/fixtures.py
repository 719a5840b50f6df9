from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Connection, event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_

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


# What a connection handed back to the session's pool sheds, after its transaction is rolled
# back: what DISCARD ALL drops, but the driver's prepared statements (DISCARD ALL must run
# outside a transaction block and would drop them too) and the plans (which change nothing a
# test sees). The next test gets a connection in the state of a new one.
SESSION_RESET = (
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; UNLISTEN *; "
    "SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES;"
)


def _reset_session(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    if reset_state.terminate_only or not reset_state.asyncio_safe:
        return  # the connection is being discarded: nothing to hand on
    dbapi_connection.rollback()
    await_(dbapi_connection.driver_connection.execute(SESSION_RESET))


class _SavepointsByDepth(Connection):
    """Names each savepoint by how deep it is (sa_savepoint_1 in the test's transaction, _2
    inside that, …) instead of by a count over the connection's life.

    In the tests, every session opened on the test's connection (each factory call, each
    request an in-process app serves) works in a savepoint, and the driver prepares every new
    statement text it sees: with a new name each time, SAVEPOINT and RELEASE were prepared
    afresh every time, and pushed the test's real statements out of the connection's cache of
    prepared statements to be prepared again too. Savepoints nest strictly, so the names of
    those open at once still differ."""

    def _savepoint_impl(self, name: str | None = None) -> str:
        if name is None:
            depth = 1
            nested = self._nested_transaction
            while nested is not None:
                depth += 1
                nested = nested._previous_nested
            name = f"sa_savepoint_{depth}"
        return super()._savepoint_impl(name)


@pytest_asyncio.fixture(scope="session")
async def nfhub_engine(nfhub_database_url: str) -> AsyncIterator[AsyncEngine]:
    """The session database's engine. Its connections are kept from one test to the next (each
    reset as above when it comes back): a new one per test cost a connection's start, and
    every statement of the test was prepared again on it (with the driver's type lookups)."""
    engine = create_async_engine(nfhub_database_url, pool_size=4, max_overflow=-1)
    event.listen(engine.sync_engine, "reset", _reset_session)
    engine.sync_engine._connection_cls = _SavepointsByDepth
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
