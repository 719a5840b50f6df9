from __future__ import annotations

from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.db.listen import asyncpg_dsn


def create_engine(
    settings: BaseServiceSettings,
    *,
    application_name: str | None = None,
    autocommit: bool = False,
    pre_ping: bool = True,
    pool_size: int | None = None,
    max_overflow: int | None = None,
    synchronous_commit: bool = True,
) -> AsyncEngine:
    """The service's engine. ``autocommit`` and ``pre_ping=False`` are for hot paths made of
    single statements (each its own transaction, no BEGIN/COMMIT or ping round trips);
    ``synchronous_commit=False`` for writes whose last milliseconds may be lost on a crash."""
    connect_args: dict[str, object] = {
        "server_settings": {
            "application_name": application_name or settings.SERVICE_NAME,
            "statement_timeout": str(settings.DATABASE_STATEMENT_TIMEOUT_MS),
            **({} if synchronous_commit else {"synchronous_commit": "off"}),
        },
        "timeout": 10,
    }
    options: dict[str, object] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size or settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW if max_overflow is None else max_overflow,
        pool_pre_ping=pre_ping,
        pool_timeout=settings.DATABASE_POOL_TIMEOUT_SECONDS,
        connect_args=connect_args,
        **options,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def _keep_session(_connection: Any) -> None:
    """Nothing to reset: the pool's statements change no session state (a transaction left
    open is rolled back by asyncpg before this is called)."""


async def create_read_pool(
    settings: BaseServiceSettings, *, application_name: str, size: int
) -> Any:
    """An asyncpg pool for hot single-statement reads, past SQLAlchemy: checking a connection
    out of SQLAlchemy's pool (a Connection object, its event dispatch, greenlet hops) cost
    more than the query it ran (bench/wes.py). Autocommit, no pre-ping, no reset query on
    release (asyncpg's default, RESET ALL and friends, is a round trip per checkout);
    connections open on first use, as an engine's do. A connection the server dropped is
    closed by asyncpg and replaced at the next checkout."""
    return await asyncpg.create_pool(
        asyncpg_dsn(settings.database_url),
        min_size=0,
        max_size=size,
        reset=_keep_session,
        timeout=10,
        server_settings={
            "application_name": application_name,
            "statement_timeout": str(settings.DATABASE_STATEMENT_TIMEOUT_MS),
        },
    )
