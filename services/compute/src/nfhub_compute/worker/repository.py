"""The worker's own SQL: its heartbeat row, and its coordination connection (LISTEN for
wake-ups, the advisory locks of the reconcilers)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from nfhub_compute.models import ComputeWorker
from nfhub_shared.db.session import AsyncSession

# pg_try_advisory_lock key of the one reconciler: 'nfhub-compute-reconciler' hashed once.
RECONCILER_LOCK_KEY = 0x6E66_6875_6272_6563


def host_lock_key(host: str) -> int:
    """The advisory lock of one host's reconciler (a signed 64-bit key, as Postgres takes)."""
    digest = hashlib.blake2b(f"nfhub-compute-host:{host}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def listen(connection: Any, channel: str, callback: Any) -> None:
    """``connection`` is asyncpg's (the driver connection under SQLAlchemy's)."""
    await connection.add_listener(channel, callback)


async def try_lock(connection: Any, key: int) -> bool:
    """Held for the life of this connection: closing it hands the lock to another worker."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def try_leader_lock(connection: Any) -> bool:
    return await try_lock(connection, RECONCILER_LOCK_KEY)


async def ping(connection: Any) -> None:
    await connection.fetchval("SELECT 1")


class WorkerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, worker: ComputeWorker, now: datetime) -> None:
        """Insert the worker's row, or note it alive."""
        values = {
            "id": worker.id,
            "host": worker.host,
            "name": worker.name,
            "pid": worker.pid,
            "version": worker.version,
            "backend": worker.backend,
            "started_at": worker.started_at,
            "last_seen_at": now,
            "created_at": now,
            "updated_at": now,
        }
        statement = insert(ComputeWorker).values(values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ComputeWorker.id],
                set_={"last_seen_at": now, "updated_at": now},
            )
        )

    async def prune(self, before: datetime) -> None:
        await self.session.execute(delete(ComputeWorker).where(ComputeWorker.last_seen_at < before))
