"""Which services' schemas are behind their migrations: a restart skips the ones at head
(each ``python -m <package>.migrate`` costs seconds of imports, even with nothing to do)."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from pathlib import Path

from nfhub_devstack.services import Service


def script_heads(service: Service) -> set[str] | None:
    """The head revisions of a service's ``migrations/`` folder (None if it cannot be read)."""
    from alembic.script import ScriptDirectory

    spec = importlib.util.find_spec(service.package)
    if spec is None or not spec.submodule_search_locations:
        return None
    location = Path(next(iter(spec.submodule_search_locations))) / "migrations"
    try:
        return set(ScriptDirectory(str(location)).get_heads())
    except Exception:  # an unreadable folder: let the service's own migrate say why
        return None


async def _applied(database_url: str, schemas: Sequence[str]) -> dict[str, set[str]]:
    """Each schema's applied revisions (its own ``alembic_version`` table; empty if none)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from nfhub_shared.config import normalise_database_url

    found: dict[str, set[str]] = {}
    engine = create_async_engine(normalise_database_url(database_url))
    try:
        async with engine.connect() as connection:
            for schema in schemas:
                table = f'"{schema}".alembic_version'
                exists = await connection.scalar(text("SELECT to_regclass(:t)"), {"t": table})
                rows = []
                if exists is not None:
                    rows = list(await connection.scalars(text(f"SELECT version_num FROM {table}")))  # noqa: S608 - our schema names
                found[schema] = {str(row) for row in rows}
    finally:
        await engine.dispose()
    return found


def behind_head(services: Sequence[Service], database_url: str) -> list[Service]:
    """The services to migrate: those whose schema (named after the service) is not exactly
    at its migrations' heads, and all of them when the database cannot tell."""
    try:
        applied = asyncio.run(_applied(database_url, [s.name for s in services]))
    except Exception:
        return list(services)
    return [s for s in services if (heads := script_heads(s)) is None or applied[s.name] != heads]
