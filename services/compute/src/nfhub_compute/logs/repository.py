from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert

from nfhub_compute.logs.schemas import LogProgress
from nfhub_compute.models import RunLogChunk
from nfhub_shared.db.session import AsyncSession


class RunLogRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def progress(self, run_id: uuid.UUID) -> dict[str, LogProgress]:
        """Per source: the next chunk's number, the lines and bytes held, whether it was cut."""
        chunks = RunLogChunk
        rows = await self.session.execute(
            select(
                chunks.source,
                func.max(chunks.seq),
                func.max(chunks.first_line + func.cardinality(chunks.lines)),
                func.sum(chunks.byte_count),
                func.bool_or(chunks.truncated),
                func.max(chunks.file_offset),
            )
            .where(chunks.run_id == run_id)
            .group_by(chunks.source)
        )
        return {
            str(source): LogProgress(
                int(seq) + 1,
                int(lines),
                int(size),
                bool(truncated),
                None if offset is None else int(offset),
            )
            for source, seq, lines, size, truncated, offset in rows
        }

    async def append(
        self,
        run_id: uuid.UUID,
        source: str,
        *,
        seq: int,
        first_line: int,
        lines: list[str],
        byte_count: int,
        truncated: bool,
        file_offset: int | None = None,
    ) -> bool:
        """Store one chunk; False when that chunk was already shipped (by another worker)."""
        statement = (
            insert(RunLogChunk)
            .values(
                run_id=run_id,
                source=source,
                seq=seq,
                first_line=first_line,
                lines=lines,
                byte_count=byte_count,
                truncated=truncated,
                file_offset=file_offset,
            )
            .on_conflict_do_nothing()
            .returning(RunLogChunk.seq)
        )
        return (await self.session.scalars(statement)).first() is not None

    async def page(
        self, run_id: uuid.UUID, source: str, *, offset: int, limit: int
    ) -> tuple[list[str], int]:
        """Lines ``offset`` to ``offset + limit`` of one log, and how many it has."""
        chunks = RunLogChunk
        of_log = (chunks.run_id == run_id, chunks.source == source)
        end_line = chunks.first_line + func.cardinality(chunks.lines)
        count = await self.session.scalar(
            select(func.coalesce(func.max(end_line), 0)).where(*of_log)
        )
        rows = await self.session.execute(
            select(chunks.first_line, chunks.lines)
            .where(*of_log, chunks.first_line < offset + limit, end_line > offset)
            .order_by(chunks.seq)
        )
        lines: list[str] = []
        for first_line, chunk_lines in rows:
            start = max(offset - first_line, 0)
            stop = offset + limit - first_line
            lines.extend(chunk_lines[start:stop])
        return lines, int(count or 0)
