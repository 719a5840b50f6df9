from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, literal_column, select, update

from nfhub_files.models import Archive
from nfhub_shared.db.driver import DriverStatement, ReadConnection
from nfhub_shared.db.repository import Repository

# The worker's idle poll, sent to asyncpg as it is (archives/worker.py).
_ANY_QUEUED = DriverStatement(select(exists().where(Archive.status == literal_column("'queued'"))))


async def any_queued(connection: ReadConnection) -> bool:
    """Whether an archive waits to be built."""
    [row] = await _ANY_QUEUED.fetch(connection)
    return bool(row[0])


class ArchiveRepository(Repository[Archive]):
    model = Archive

    async def get_in_project(self, project_id: uuid.UUID, archive_id: uuid.UUID) -> Archive | None:
        return await self.session.scalar(
            select(Archive).where(Archive.id == archive_id, Archive.project_id == project_id)
        )

    async def list_in_project(
        self, project_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[Archive], int]:
        statement = (
            select(Archive)
            .where(Archive.project_id == project_id)
            .order_by(Archive.created_at.desc(), Archive.id.desc())
        )
        return await self.paginate(statement, limit=limit, offset=offset)

    async def claim_next(self, now: datetime) -> Archive | None:
        """Mark the oldest queued archive running; replicas skip rows another one is claiming."""
        archive = await self.session.scalar(
            select(Archive)
            .where(Archive.status == "queued")
            .order_by(Archive.created_at, Archive.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if archive is None:
            return None
        return await self.update(
            archive,
            {
                "status": "running",
                "started_at": now,
                "updated_at": now,
                "finished_at": None,
                "error": None,
            },
        )

    async def heartbeat(self, archive_id: uuid.UUID, now: datetime) -> bool:
        """Show the build is alive; False when the archive is no longer running (reaped)."""
        return await self._update_running(archive_id, {"updated_at": now})

    async def finish(self, archive_id: uuid.UUID, values: dict[str, Any]) -> bool:
        """Record the outcome, unless someone else already did (the archive is not running)."""
        return await self._update_running(archive_id, values)

    async def requeue(self, archive_id: uuid.UUID, now: datetime) -> bool:
        return await self._update_running(
            archive_id, {"status": "queued", "started_at": None, "updated_at": now}
        )

    async def fail_stale(self, cutoff: datetime, now: datetime, error: str) -> list[uuid.UUID]:
        """Fail running archives whose builder stopped sending heartbeats before ``cutoff``."""
        result = await self.session.scalars(
            update(Archive)
            .where(Archive.status == "running", Archive.updated_at < cutoff)
            .values(status="failed", error=error, finished_at=now, updated_at=now)
            .returning(Archive.id)
        )
        return list(result.all())

    async def _update_running(self, archive_id: uuid.UUID, values: dict[str, Any]) -> bool:
        result = await self.session.scalars(
            update(Archive)
            .where(Archive.id == archive_id, Archive.status == "running")
            .values(**values)
            .returning(Archive.id)
        )
        return result.first() is not None
