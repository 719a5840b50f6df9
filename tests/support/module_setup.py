"""One data setup per test module, each test inside a savepoint rolled back after it.

For modules whose tests all read (or try and fail to change) the same setup: the isolation
tables call each route once from outside with a victim built once. The module opens one
connection and one transaction (rolled back after the module); every test runs inside a
SAVEPOINT of it, rolled back after the test, so what a test changes is gone for the next one,
as with the per-test transaction of ``db_connection``. The module's apps (built once, on this
connection) answer every test of the module: their caches and rate limits live as long as the
module, as they would in a running service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker


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
