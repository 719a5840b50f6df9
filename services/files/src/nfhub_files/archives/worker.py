"""The archive worker: claims queued archives, builds them, records the outcome.

Every replica may run one. A claim is ``SELECT … FOR UPDATE SKIP LOCKED`` and is committed at
once, so no two replicas build the same archive, and no transaction stays open during a build.
A building worker touches its archive's ``updated_at`` every ``HEARTBEAT_SECONDS``; an archive
left ``running`` without heartbeats for ``STALE_AFTER`` (its worker died) is marked failed by
whichever worker looks next. A worker stopped normally (shutdown) puts its archive back in the
queue instead, for the next worker to build.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from fastapi import FastAPI

from nfhub_files.archives.builder import ArchiveBuilder, BuiltArchive
from nfhub_files.archives.errors import ArchiveBuildError
from nfhub_files.archives.repository import ArchiveRepository, any_queued
from nfhub_files.state import FilesState
from nfhub_files.storage.base import StorageBackend
from nfhub_shared.db.driver import ReadConnect
from nfhub_shared.db.engine import create_read_pool
from nfhub_shared.errors import AppError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from nfhub_shared.db.session import AsyncSession

HEARTBEAT_SECONDS = 30.0
STALE_AFTER = timedelta(minutes=5)
REAP_INTERVAL_SECONDS = 60.0
REQUEUE_TIMEOUT_SECONDS = 5.0
STALE_ERROR = (
    "The build stopped unexpectedly (its worker went away); create the archive again. If it "
    "keeps failing, select fewer files."
)

logger = structlog.get_logger("nfhub.files.archives")


def _now() -> datetime:
    return datetime.now(UTC)


class _Heartbeat:
    """Touches the archive at most every HEARTBEAT_SECONDS; stops a build that was reaped."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], archive_id: uuid.UUID
    ) -> None:
        self.sessionmaker = sessionmaker
        self.archive_id = archive_id
        self.last = time.monotonic()

    async def __call__(self) -> None:
        if time.monotonic() - self.last < HEARTBEAT_SECONDS:
            return
        self.last = time.monotonic()
        async with self.sessionmaker() as session, session.begin():
            alive = await ArchiveRepository(session).heartbeat(self.archive_id, _now())
        if not alive:
            raise ArchiveBuildError("The archive was given up on while it was being built.")


async def build_next_archive(app: FastAPI) -> uuid.UUID | None:
    """Claim the oldest queued archive and build it; None when the queue is empty."""
    state = FilesState.of(app)
    sessionmaker, storage, settings = state.sessionmaker, state.storage, state.settings
    async with sessionmaker() as session, session.begin():
        archive = await ArchiveRepository(session).claim_next(_now())
        if archive is None:
            return None
        archive_id, project_id, paths = archive.id, archive.project_id, list(archive.paths)
    log = logger.bind(archive_id=str(archive_id), project_id=str(project_id))
    log.info("archive build started", paths=len(paths))
    builder = ArchiveBuilder(
        storage,
        max_bytes=settings.ARCHIVE_MAX_BYTES,
        heartbeat=_Heartbeat(sessionmaker, archive_id),
    )
    try:
        built = await builder.build(project_id, archive_id, paths)
    except anyio.get_cancelled_exc_class():
        # Shutting down: the archive goes back to the queue rather than waiting to be reaped.
        with anyio.move_on_after(REQUEUE_TIMEOUT_SECONDS, shield=True):
            async with sessionmaker() as session, session.begin():
                await ArchiveRepository(session).requeue(archive_id, _now())
        log.info("archive build interrupted; queued again")
        raise
    except ArchiveBuildError as exc:
        await _fail(sessionmaker, archive_id, str(exc))
        log.info("archive build failed", error=str(exc))
    except AppError as exc:  # storage unavailable and the like: the detail says what happened
        await _fail(sessionmaker, archive_id, exc.detail)
        log.warning("archive build failed", error=exc.detail)
    except Exception as exc:
        log.exception("archive build crashed", error=type(exc).__name__)
        await _fail(
            sessionmaker,
            archive_id,
            f"The archive could not be built (an unexpected {type(exc).__name__}); try again, "
            f"and if it fails again report archive {archive_id} to an administrator.",
        )
    else:
        await _succeed(sessionmaker, storage, archive_id, built)
        log.info("archive ready", size=built.size, file_count=built.file_count)
    return archive_id


async def _succeed(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: StorageBackend,
    archive_id: uuid.UUID,
    built: BuiltArchive,
) -> None:
    values: dict[str, Any] = {
        "status": "ready",
        "key": built.key,
        "size": built.size,
        "file_count": built.file_count,
        "error": None,
        "finished_at": _now(),
        "updated_at": _now(),
    }
    async with sessionmaker() as session, session.begin():
        recorded = await ArchiveRepository(session).finish(archive_id, values)
    if not recorded:
        # Reaped as failed while we were building: nobody will ever hand out this zip.
        await storage.delete_object(built.key)


async def _fail(
    sessionmaker: async_sessionmaker[AsyncSession], archive_id: uuid.UUID, error: str
) -> None:
    values = {"status": "failed", "error": error, "finished_at": _now(), "updated_at": _now()}
    async with sessionmaker() as session, session.begin():
        await ArchiveRepository(session).finish(archive_id, values)


async def fail_stale_archives(app: FastAPI) -> list[uuid.UUID]:
    """Mark failed the running archives whose worker stopped sending heartbeats."""
    sessionmaker = FilesState.of(app).sessionmaker
    now = _now()
    async with sessionmaker() as session, session.begin():
        stale = await ArchiveRepository(session).fail_stale(now - STALE_AFTER, now, STALE_ERROR)
    if stale:
        logger.warning("stale archive builds failed", archive_ids=[str(i) for i in stale])
    return stale


async def run_archive_worker(
    app: FastAPI,
    *,
    poll_seconds: float,
    polls: ReadConnect | None = None,
) -> None:
    """Build archives until cancelled; sleeps ``poll_seconds`` whenever the queue is empty.
    ``polls``: a connection (asyncpg's) to ask first, in one statement, whether anything is
    queued, rather than open a claim's transaction for nothing."""
    next_reap = 0.0
    while True:
        try:
            if time.monotonic() >= next_reap:
                next_reap = time.monotonic() + REAP_INTERVAL_SECONDS
                await fail_stale_archives(app)
            queued = True
            if polls is not None:
                async with polls() as connection:
                    queued = await any_queued(connection)
            built = await build_next_archive(app) if queued else None
        except Exception as exc:  # the database is down, say: wait and try again
            logger.exception("archive worker error", error=type(exc).__name__)
            built = None
        if built is None:
            await anyio.sleep(poll_seconds)


@asynccontextmanager
async def archive_worker(app: FastAPI) -> AsyncIterator[None]:
    """Lifespan hook: the worker runs while the app does, when ARCHIVE_WORKER_ENABLED."""
    settings = FilesState.of(app).settings
    if not settings.ARCHIVE_WORKER_ENABLED:
        yield
        return
    # The idle poll (every ARCHIVE_POLL_SECONDS): one statement on a connection of its own,
    # autocommit, no pre-ping, past SQLAlchemy, rather than a claim's session (a pre-ping,
    # BEGIN, SELECT … FOR UPDATE, COMMIT) when nothing is queued, as is most of the time.
    pool = await create_read_pool(settings, application_name="files-archives", size=1)
    polls = partial(pool.acquire, timeout=settings.DATABASE_POOL_TIMEOUT_SECONDS)
    try:
        async with anyio.create_task_group() as tasks:
            worker = partial(
                run_archive_worker, app, poll_seconds=settings.ARCHIVE_POLL_SECONDS, polls=polls
            )
            tasks.start_soon(worker, name="archive-worker")
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
    finally:
        await pool.close()
