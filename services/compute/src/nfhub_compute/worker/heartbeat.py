"""Every worker notes itself alive in ``workers`` every COMPUTE_WORKER_HEARTBEAT_SECONDS.

A host is alive while one of its workers beats: a local run whose host has had no heartbeat
for COMPUTE_WORKER_DEADLINE_SECONDS is marked UNKNOWN by the leader (see reconciler).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeWorker
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.stream.repository import RunEventRepository
from nfhub_compute.worker.repository import WorkerRepository

logger = structlog.get_logger("nfhub.compute.heartbeat")

# Rows of workers silent for this long are deleted (by any worker's heartbeat).
PRUNE_AFTER = timedelta(days=7)
OWNERLESS_BATCH = 500


def _version() -> str:
    try:
        return version("nfhub-compute")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without metadata
        return "unknown"


class Heartbeat:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        backend: str,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        now = datetime.now(UTC)
        worker_id = uuid.uuid4()
        self.worker = ComputeWorker(
            id=worker_id,
            host=settings.WORKER_HOST,
            # What runs.claimed_by and the logs call it.
            name=f"{settings.WORKER_HOST}:{os.getpid()}:{worker_id.hex[:6]}",
            pid=os.getpid(),
            version=_version(),
            backend=backend,
            started_at=now,
            last_seen_at=now,
        )
        # Set by the first beat that reached the database (asyncio's: made outside a loop).
        self.beaten = asyncio.Event()

    async def beat(self) -> None:
        now = datetime.now(UTC)
        # The beat commits on its own: a long prune (or a lock it waits on) must not hold
        # back the proof of life the other hosts judge this one by.
        async with self.sessionmaker() as session, session.begin():
            await WorkerRepository(session).beat(self.worker, now)
        self.beaten.set()
        async with self.sessionmaker() as session, session.begin():
            await WorkerRepository(session).prune(now - PRUNE_AFTER)
            # The live streams' feed: a client may resume from an event this old at most.
            retention = timedelta(hours=self.settings.STREAM_RETENTION_HOURS)
            await RunEventRepository(session).prune(now - retention)

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as exc:  # the database is down, say: beat again later
                logger.warning("heartbeat failed", error=type(exc).__name__)
            await anyio.sleep(self.settings.WORKER_HEARTBEAT_SECONDS)


async def mark_ownerless_runs(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, host_bound: Sequence[str]
) -> int:
    """Running runs of hosts with no heartbeat for COMPUTE_WORKER_DEADLINE_SECONDS → UNKNOWN.

    Nobody else can watch or stop them (their launchers are on that host); their owner
    finishes them when it comes back.
    """
    now = datetime.now(UTC)
    deadline = settings.WORKER_DEADLINE_SECONDS
    async with sessionmaker() as session, session.begin():
        runs = RunRepository(session)
        found = await runs.ownerless(
            host_bound, now - timedelta(seconds=deadline), limit=OWNERLESS_BATCH
        )
        by_host: dict[str, list[uuid.UUID]] = {}
        for run_id, host in found:
            by_host.setdefault(host, []).append(run_id)
        for host, run_ids in by_host.items():
            reason = (
                f"No worker of host {host} has sent a heartbeat for over {deadline:g} s, and "
                f"only that host can watch this run: it may still go on there. It ends once a "
                f"worker with COMPUTE_WORKER_HOST={host} runs again."
            )
            for run_id in await runs.mark_owner_lost(run_ids, reason, now):
                logger.warning("run's host is gone", run_id=str(run_id), host=host)
    return len(found)
