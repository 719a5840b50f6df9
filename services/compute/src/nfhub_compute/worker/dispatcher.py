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
from nfhub_compute.backends.pool import BackendPool
from nfhub_compute.compute_envs.repository import ComputeEnvRepository
from nfhub_compute.config import Settings
from nfhub_compute.runs.launch import launch_spec
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState
from nfhub_compute.secrets.crypto import SecretBox
from nfhub_compute.secrets.service import SecretsUnavailable, launch_values
from nfhub_compute.worker.repository import any_queued
from nfhub_shared.db.driver import ReadConnect

logger = structlog.get_logger("nfhub.compute.dispatcher")

CLAIM_BATCH = 20


class Dispatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        backend: JobBackend,
        settings: Settings,
        worker_id: str,
        *,
        backends: BackendPool | None = None,
    ) -> None:
        """``backend`` runs the runs without a compute environment; ``backends`` (made from
        it when not given) those of each environment."""
        self.sessionmaker = sessionmaker
        self.backend = backend
        self.backends = backends or BackendPool(settings, backend)
        self.settings = settings
        self.worker_id = worker_id
        self.box = SecretBox.from_settings(settings)
        # Where it asks whether a run is queued: the worker's pool of single statements
        # (worker/main.py); the sessions' connections otherwise (tests).
        self.polls: ReadConnect = sessionmaker

    async def dispatch_once(self) -> int:
        """Claim a batch of queued runs and submit each: runs without an environment within
        COMPUTE_MAX_ACTIVE_RUNS, those of an environment within its max_active_runs."""
        # Mostly nothing waits: one statement says so, and the claim is not even built.
        async with self.polls() as connection:
            if not await any_queued(connection):
                return 0
        async with self.sessionmaker() as session, session.begin():
            runs = RunRepository(session)
            # Runs without an environment go to the worker's own backend: bound to its host
            # (local), they count against this host's COMPUTE_MAX_ACTIVE_RUNS only.
            default = self.backends.default
            host = None if default.host_independent else self.settings.WORKER_HOST
            free = self.settings.MAX_ACTIVE_RUNS - await runs.count_active_without_env(
                owner_host=host
            )
            claimed = await runs.claim_queued(
                self.worker_id,
                CLAIM_BATCH,
                datetime.now(UTC),
                free_without_env=max(free, 0),
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
            env = (
                await ComputeEnvRepository(session).get(run.compute_env_id)
                if run.compute_env_id is not None
                else None
            )
        if run.backend_handle is not None:
            return
        if run.state == RunState.CANCELING:
            await self._finish(run_id, RunState.CANCELED, "Canceled before it was launched.")
            return
        if run.state != RunState.INITIALIZING:
            return
        secrets: dict[str, str] = {}
        if run.secrets:
            # Decrypted here, as the run is handed over, and kept nowhere but the spec.
            try:
                async with self.sessionmaker() as session:
                    secrets = await launch_values(
                        session, self.box, run.org_id, run.project_id, run.secrets
                    )
            except SecretsUnavailable as exc:
                log.warning("secrets unavailable", error=str(exc))
                await self._finish(run_id, RunState.SYSTEM_ERROR, str(exc))
                return
        spec = launch_spec(
            run,
            version,
            self.settings,
            parent.launch_dir if parent else None,
            secrets=secrets,
            env=env,
        )
        try:
            backend = self.backends.of(env)
            submitted = await backend.submit(spec)
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
            log.info("run submitted", backend=backend.name)
            return
        async with self.sessionmaker() as session:
            now_run = await RunRepository(session).get(run_id)
        if now_run is not None and now_run.backend_handle == submitted.handle:
            # The reconciler submitted it too (we were slow) and got the same job: all is well.
            log.info("run already recorded as submitted")
        elif now_run is None or RunState(now_run.state).terminal:
            # Ended while we submitted (canceled before it had a handle): stop what we started.
            await backend.cancel(submitted.handle, force=True)
            log.info("run ended while it was submitted; stopped it")
        else:
            # Another job is on record (the backend did not deduplicate): only that one runs.
            await backend.cancel(submitted.handle, force=True)
            log.warning("run recorded with another job; stopped ours")

    async def _finish(self, run_id: uuid.UUID, target: RunState, reason: str) -> None:
        now = datetime.now(UTC)
        async with self.sessionmaker() as session, session.begin():
            await RunRepository(session).move(
                run_id, target, {"state_reason": reason, "finished_at": now}, now
            )
