"""Ships a run's logs (Nextflow's own, the console) from its launch folder to the database.

The worker that reconciles a run — the only one that can read its launch folder — appends
the lines written since the last pass to ``run_log_chunks``, redacted as the backend reads
them. The API pages them from there (logs/service.py), for a live run too.

- Each pass reads a log from where the last chunk ended in the file (its byte offset), so a
  log is read once in all, however many passes ship it.
- The last line of a live log may be half written (no newline yet): it waits for the next
  pass (or the end).
- Each log keeps at most COMPUTE_LOG_MAX_BYTES; the chunk that reaches it ends with a line
  saying where the rest is, and nothing more of that log is shipped.
- Chunk numbers make a retry harmless: a chunk shipped twice is kept once.
"""

from __future__ import annotations

from typing import Any, get_args

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.backends.base import JobBackend, LogSource
from nfhub_compute.config import Settings
from nfhub_compute.logs.repository import RunLogRepository
from nfhub_compute.logs.schemas import LogProgress
from nfhub_compute.models import Run

logger = structlog.get_logger("nfhub.compute.logship")

CHUNK_LINES = 1000
# A pass ships at most this many chunks of one log: a huge backlog does not hold up the
# other runs' reconciliation; the next pass goes on.
CHUNKS_PER_PASS = 10
SOURCES: tuple[LogSource, ...] = get_args(LogSource)


def _size(line: str) -> int:
    return len(line.encode("utf-8")) + 1


def truncation_marker(settings: Settings, run: Run) -> str:
    where = f" in {run.launch_dir}" if run.launch_dir else ""
    host = f" on {run.owner_host}" if run.owner_host else ""
    return (
        f"[nfhub] The log is cut here, at COMPUTE_LOG_MAX_BYTES ({settings.LOG_MAX_BYTES} "
        f"bytes); the whole log is{where}{host}."
    )


class LogShipper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def ship(self, run: Run, backend: JobBackend, *, final: bool = False) -> None:
        """Append what the run's logs gained, read through ``backend`` (the run's own: its
        compute environment's, or the worker's); ``final``: the run ended, ship the last line
        too."""
        if run.backend_handle is None:
            return
        async with self.sessionmaker() as session:
            shipped = await RunLogRepository(session).progress(run.id)
        for source in SOURCES:
            progress = shipped.get(source)
            await self._ship(run, backend, run.backend_handle, source, progress, final=final)

    async def _ship(
        self,
        run: Run,
        backend: JobBackend,
        handle: dict[str, Any],
        source: LogSource,
        progress: LogProgress | None,
        *,
        final: bool,
    ) -> None:
        progress = progress or LogProgress()
        # Chunks shipped before offsets were kept: their lines are skipped once, from the start.
        start = progress.file_offset if progress.file_offset is not None else 0
        skip = progress.lines if progress.file_offset is None else 0
        for _ in range(CHUNKS_PER_PASS):
            if progress.truncated:
                return
            read = await backend.logs(
                handle, source=source, start=start, limit=CHUNK_LINES, final=final,
                skip_lines=skip,
            )  # fmt: skip
            skip = 0
            if not read.lines:
                return
            lines, truncated = self._within_bound(run, read.lines, progress.byte_count)
            size = sum(_size(line) for line in lines)
            async with self.sessionmaker() as session, session.begin():
                stored = await RunLogRepository(session).append(
                    run.id,
                    source,
                    seq=progress.next_seq,
                    first_line=progress.lines,
                    lines=lines,
                    byte_count=size,
                    truncated=truncated,
                    file_offset=read.end,
                )
            if not stored:  # another worker shipped this chunk: start again from the database
                logger.info("log chunk shipped already", run_id=str(run.id), source=source)
                return
            progress = LogProgress(
                progress.next_seq + 1,
                progress.lines + len(lines),
                progress.byte_count + size,
                truncated,
                read.end,
            )
            start = read.end
            if read.at_end:
                return

    def _within_bound(self, run: Run, lines: list[str], held: int) -> tuple[list[str], bool]:
        budget = self.settings.LOG_MAX_BYTES - held
        kept: list[str] = []
        for line in lines:
            budget -= _size(line)
            if budget < 0:
                return [*kept, truncation_marker(self.settings, run)], True
            kept.append(line)
        return kept, False
