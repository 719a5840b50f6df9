"""Run logs as the database holds them: shipped by the worker that can read the launch folder
(worker/logship.py), so the API needs no shared filesystem."""

from __future__ import annotations

import uuid

from nfhub_compute.backends.base import LogChunk, LogSource
from nfhub_compute.logs.repository import RunLogRepository
from nfhub_shared.db.session import AsyncSession


class RunLogService:
    def __init__(self, session: AsyncSession) -> None:
        self.logs = RunLogRepository(session)

    async def page(
        self, run_id: uuid.UUID, source: LogSource, *, offset: int, limit: int
    ) -> LogChunk:
        lines, count = await self.logs.page(run_id, source, offset=offset, limit=limit)
        return LogChunk(lines=lines, count=count)
