"""Each service's migrations build exactly the schema its models describe, and undo it.

A filter offered by an endpoint gets its index in the model and in a migration; this test is
what notices when only one of the two was written (or a column type drifts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData, text
from sqlalchemy.ext.asyncio import create_async_engine

from nfhub_admin.migrate import MIGRATIONS_DIR as ADMIN_MIGRATIONS
from nfhub_admin.models import Base as AdminBase
from nfhub_compute.migrate import MIGRATIONS_DIR as COMPUTE_MIGRATIONS
from nfhub_compute.models import Base as ComputeBase
from nfhub_files.migrate import MIGRATIONS_DIR as FILES_MIGRATIONS
from nfhub_files.models import Base as FilesBase
from nfhub_miner.migrate import MIGRATIONS_DIR as MINER_MIGRATIONS
from nfhub_miner.models import Base as MinerBase
from nfhub_shared.db.migrations import downgrade, upgrade
from nfhub_shared.testing.database import create_database, drop_database
from nfhub_web.migrate import MIGRATIONS_DIR as WEB_MIGRATIONS
from nfhub_web.models import Base as WebBase

SERVICES: dict[str, tuple[Path, MetaData]] = {
    "admin": (ADMIN_MIGRATIONS, AdminBase.metadata),
    "files": (FILES_MIGRATIONS, FilesBase.metadata),
    "compute": (COMPUTE_MIGRATIONS, ComputeBase.metadata),
    "miner": (MINER_MIGRATIONS, MinerBase.metadata),
    "web": (WEB_MIGRATIONS, WebBase.metadata),
}


def inspect_sync(database_url: str, look: Callable[[Connection], Any]) -> Any:
    """Run ``look`` on a plain connection (alembic's comparison is synchronous)."""

    async def run() -> Any:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(look)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def schema_differences(database_url: str, schema: str, metadata: MetaData) -> list[Any]:
    """What autogenerate would write for ``schema``: empty when migrations match the models."""

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_schemas": True,
                "include_name": lambda name, kind, _parent: kind != "schema" or name == schema,
            },
        )
        return [
            difference
            for difference in compare_metadata(context, metadata)
            if not _is_version_table(difference)
        ]

    return list(inspect_sync(database_url, compare))


def _is_version_table(difference: Any) -> bool:
    return (
        isinstance(difference, tuple)
        and difference[0] == "remove_table"
        and difference[1].name == "alembic_version"
    )


@pytest.fixture
def empty_database(nfhub_postgres_server: str) -> Any:
    url = create_database(nfhub_postgres_server)
    yield url
    drop_database(url)


@pytest.mark.parametrize("service", list(SERVICES))
def test_migrations_build_the_models_schema_and_undo_it(service: str, empty_database: str) -> None:
    migrations, metadata = SERVICES[service]
    upgrade(migrations, empty_database)
    assert schema_differences(empty_database, service, metadata) == []

    downgrade(migrations, empty_database)
    tables_left = inspect_sync(
        empty_database,
        lambda connection: set(
            connection.execute(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": service},
            ).scalars()
        ),
    )
    assert tables_left <= {"alembic_version"}

    upgrade(migrations, empty_database)  # and the way back up still works
    assert schema_differences(empty_database, service, metadata) == []
