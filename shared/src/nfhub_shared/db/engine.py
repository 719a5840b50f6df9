from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from nfhub_shared.config import BaseServiceSettings


def create_engine(
    settings: BaseServiceSettings, *, application_name: str | None = None
) -> AsyncEngine:
    connect_args: dict[str, object] = {
        "server_settings": {
            "application_name": application_name or settings.SERVICE_NAME,
            "statement_timeout": str(settings.DATABASE_STATEMENT_TIMEOUT_MS),
        },
        "timeout": 10,
    }
    return create_async_engine(
        settings.database_url,
        pool_size=settings.DATABASE_POOL_SIZE,
        max_overflow=settings.DATABASE_MAX_OVERFLOW,
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
