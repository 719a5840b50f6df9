"""The dispatcher: claims QUEUED runs and submits them to the job backend.

A claim is ``FOR UPDATE SKIP LOCKED`` committed at once (QUEUED → INITIALIZING), so several
workers never claim one run, and no transaction stays open while a run is submitted. If the
worker dies between claim and recorded submission, the reconciler submits again after
COMPUTE_SUBMIT_RECOVERY_SECONDS; backends make that idempotent per run id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.backends.base import BackendUnavailable, JobBackend, SubmitFailed
from nfhub_compute.config import Settings
from nfhub_compute.runs.launch import launch_spec
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState

logger = structlog.get_logger("nfhub.compute.dispatcher")

CLAIM_BATCH = 20


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        backend: JobBackend,
        settings: Settings,
        worker_id: str,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.backend = backend
        self.settings = settings
        self.worker_id = worker_id

    async def dispatch_once(self) -> int:
        """Claim a batch of queued runs (within COMPUTE_MAX_ACTIVE_RUNS) and submit each."""
        async with self.sessionmaker() as session, session.begin():
            runs = RunRepository(session)
            # A host-bound backend's runs count against their own host's limit.
            host = None if self.backend.host_independent else self.settings.WORKER_HOST
            free = self.settings.MAX_ACTIVE_RUNS - await runs.count_active(
                self.backend.name, owner_host=host
            )
            if free <= 0:
                return 0
            claimed = await runs.claim_queued(
                self.worker_id,
                min(free, CLAIM_BATCH),
                datetime.now(UTC),
                host=self.settings.WORKER_HOST,
            )
        for run_id in claimed:
            await self.submit(run_id)
        return len(claimed)

    async def submit(self, run_id: uuid.UUID) -> None:
        """Submit one claimed run; the backend returns the first job if it was submitted before."""
        log = logger.bind(run_id=str(run_id))
        async with self.sessionmaker() as session:
            runs = RunRepository(session)
            found = await runs.with_version(run_id)
            if found is None:
                return
            run, version = found
            parent = (
                await runs.get(run.relaunched_from_id)
                if run.resume and run.relaunched_from_id is not None
                else None
            )
        if run.backend_handle is not None:
            return
        if run.state == RunState.CANCELING:
            await self._finish(run_id, RunState.CANCELED, "Canceled before it was launched.")
            return
        if run.state != RunState.INITIALIZING:
            return
        spec = launch_spec(run, version, self.settings, parent.launch_dir if parent else None)
        try:
            submitted = await self.backend.submit(spec)
        except SubmitFailed as exc:
            log.warning("submit failed", error=str(exc))
            await self._finish(run_id, RunState.SYSTEM_ERROR, str(exc))
            return
        except BackendUnavailable as exc:
            # Left INITIALIZING: the reconciler submits again after the recovery delay.
            log.warning("backend unavailable; will retry", error=str(exc))
            return
        except Exception as exc:
            log.exception("submit crashed", error=type(exc).__name__)
            await self._finish(
                run_id,
                RunState.SYSTEM_ERROR,
                f"The run could not be submitted ({type(exc).__name__}); see the worker's log.",
            )
            return
        async with self.sessionmaker() as session, session.begin():
            recorded = await RunRepository(session).record_submission(
                run_id,
                handle=submitted.handle,
                launch_dir=submitted.launch_dir,
                work_dir=submitted.work_dir,
                now=datetime.now(UTC),
            )
        if recorded:
            log.info("run submitted", backend=self.backend.name)
            return
        async with self.sessionmaker() as session:
            now_run = await RunRepository(session).get(run_id)
        if now_run is not None and now_run.backend_handle == submitted.handle:
            # The reconciler submitted it too (we were slow) and got the same job: all is well.
            log.info("run already recorded as submitted")
        elif now_run is None or RunState(now_run.state).terminal:
            # Ended while we submitted (canceled before it had a handle): stop what we started.
            await self.backend.cancel(submitted.handle, force=True)
            log.info("run ended while it was submitted; stopped it")
        else:
            # Another job is on record (the backend did not deduplicate): only that one runs.
            await self.backend.cancel(submitted.handle, force=True)
            log.warning("run recorded with another job; stopped ours")

    async def _finish(self, run_id: uuid.UUID, target: RunState, reason: str) -> None:
        now = datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            await RunRepository(session).move(
                run_id, target, {"state_reason": reason, "finished_at": now}, now
            )
