"""The worker's own connection: LISTEN for wake-ups, and the reconciler's leader lock."""

from __future__ import annotations

from typing import Any

# pg_try_advisory_lock key of the one reconciler: 'nfhub-compute-reconciler' hashed once.
RECONCILER_LOCK_KEY = 0x6E66_6875_6272_6563


async def listen(connection: Any, channel: str, callback: Any) -> None:
    """``connection`` is asyncpg's (the driver connection under SQLAlchemy's)."""
    await connection.add_listener(channel, callback)


async def try_leader_lock(connection: Any) -> bool:
    """Held for the life of this connection: closing it hands leadership to another worker."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", RECONCILER_LOCK_KEY))


async def ping(connection: Any) -> None:
    await connection.fetchval("SELECT 1")
