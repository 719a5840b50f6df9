"""The reconciler: asks the backend about every live run and moves it to what it learns.

One worker reconciles a given run at a time (see the end of this note). Each pass:

- a run whose launcher exited ends by its exit code: 0 → COMPLETE, else EXECUTOR_ERROR,
  CANCELING → CANCELED; its trace file is read first, so tasks the weblog missed (cached
  ones, lost events) are counted;
- a launcher gone without an exit code (killed, machine restarted) → SYSTEM_ERROR, with why;
- an INITIALIZING run whose job waits in a scheduler's queue shows why (the backend's detail,
  e.g. Slurm's reason) as its state_reason, until Nextflow's first event clears it;
- CANCELING: SIGTERM once, SIGKILL after COMPUTE_CANCEL_GRACE_SECONDS;
- RUNNING with no event and no answer from the backend for COMPUTE_SILENCE_DEADLINE_SECONDS
  → UNKNOWN, back to RUNNING with the next event or answer;
- a claimed run never recorded as submitted (its dispatcher died) is submitted again; a
  launcher still alive for a run that has ended is killed;
- the logs of every run it can read are shipped to the database (worker/logship.py), and
  its failed tasks' files; the task files the API asked for first (worker/taskfiles.py).

A pass first asks one statement what it has to do (worker/repository.py, pass_work): an idle
worker's pass is that statement and the look for launchers of ended runs, nothing more. The
compute environments are read again only when one was made, edited or deleted.

Each run is asked of its compute environment's backend (the worker's own for runs without
one); the jobs alive are listed from every environment's backend.

A run of a host-bound backend (local, in a compute environment or the worker's own: see
HOST_BOUND_BACKENDS) is reconciled by a worker of its owner host only (``owned``: one per
host, holding that host's advisory lock); the leader (``shared``, holding the global one)
reconciles the others (Slurm's: any worker reaches them) and marks UNKNOWN the running runs
of hosts that stopped heartbeating.

Every change is a guarded UPDATE (legal from the state it was read in), so a pass racing a
cancel request or an event never moves a run backwards.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.backends.base import (
    ActiveJob,
    BackendUnavailable,
    JobBackend,
    JobState,
    JobStatus,
)
from nfhub_compute.backends.factory import HOST_BOUND_BACKENDS, BackendNotBuilt
from nfhub_compute.compute_envs.repository import ComputeEnvRepository
from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import task_values
from nfhub_compute.models import ComputeEnv, Run
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.tasks.service import TaskService
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.heartbeat import mark_ownerless_runs
from nfhub_compute.worker.logship import LogShipper
from nfhub_compute.worker.repository import pass_work
from nfhub_compute.worker.taskfiles import TaskFileShipper
from nfhub_shared.db.driver import ReadConnect

logger = structlog.get_logger("nfhub.compute.reconciler")

BATCH = 200
TRACE_BATCH = 500
# last_seen_at is written at most this often for a healthy run (one UPDATE, not one per pass).
SEEN_WRITE_INTERVAL = timedelta(seconds=30)


def _now() -> datetime:
    return datetime.now(UTC)


class Reconciler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        backend: JobBackend,
        settings: Settings,
        dispatcher: Dispatcher,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.backend = backend
        self.settings = settings
        self.dispatcher = dispatcher
        self.backends = dispatcher.backends
        self._envs: dict[uuid.UUID, ComputeEnv] = {}
        self._envs_seen: str | None = None  # PassWork.envs when _envs was read
        # Where the pass asks what it has to do: the worker's pool of single statements
        # (worker/main.py); the sessions' connections otherwise (tests).
        self.polls: ReadConnect = sessionmaker
        self.shipper = LogShipper(sessionmaker, settings)
        self.task_files = TaskFileShipper(sessionmaker, settings)

    def backend_of(self, run: Run) -> JobBackend:
        """The backend of the run's environment (as read at the start of the pass)."""
        if run.compute_env_id is None:
            return self.backends.default
        env = self._envs.get(run.compute_env_id)
        if env is None:  # made after this pass read them: the next pass knows it
            raise BackendUnavailable(f"compute environment {run.compute_env_id} is not loaded yet")
        return self.backends.of(env)

    async def reconcile_once(self, *, owned: bool = True, shared: bool = True) -> None:
        """``owned``: this host's runs of host-bound backends (HOST_BOUND_BACKENDS: local, in
        an environment or not); ``shared``: every other run (Slurm's, and those of no host)."""
        # One statement says what else this pass has to do: mostly nothing (idle).
        async with self.polls() as connection:
            work = await pass_work(
                connection, owned_by=self.settings.WORKER_HOST if owned else None, shared=shared
            )
        if work.envs != self._envs_seen:  # an environment made, edited or deleted
            async with self.sessionmaker() as session:
                self._envs = {env.id: env for env in await ComputeEnvRepository(session).all()}
            self._envs_seen = work.envs
        # First: a reader of the API waits for these.
        if work.task_files:
            await self.serve_task_files(owned=owned, shared=shared)
        if shared and work.runs:
            await mark_ownerless_runs(self.sessionmaker, self.settings, HOST_BOUND_BACKENDS)
        if shared and work.metrics:
            await self.refresh_metrics()
        jobs = await self._active_jobs()
        active = {run_id: job.handle for run_id, (_, job) in jobs.items()}
        live: set[uuid.UUID] = set()
        owners = ([self.settings.WORKER_HOST] if owned else []) + ([None] if shared else [])
        for owner in owners if work.runs else []:
            after: uuid.UUID | None = None
            while True:
                async with self.sessionmaker() as session:
                    batch = await RunRepository(session).live(
                        after=after, limit=BATCH, owned_by=owner, host_bound=HOST_BOUND_BACKENDS
                    )
                if not batch:
                    break
                for run in batch:
                    live.add(run.id)
                    try:
                        await self.reconcile_run(run, active.get(run.id))
                    except Exception as exc:  # one bad run must not stop the others
                        logger.exception(
                            "reconcile failed", run_id=str(run.id), error=type(exc).__name__
                        )
                if len(batch) < BATCH:  # the last page: no query to find it empty
                    break
                after = batch[-1].id
        await self._stop_orphans(
            {run_id: job for run_id, job in jobs.items() if run_id not in live}
        )

    async def reconcile_run(self, run: Run, active_handle: dict[str, Any] | None) -> None:
        state = RunState(run.state)
        now = _now()
        if run.source == "external":
            # Reported from elsewhere (-with-tower): no backend to ask, only its silence.
            if state in (RunState.RUNNING, RunState.INITIALIZING):
                await self._check_silence(run, now)
            return
        if run.backend_handle is None:
            await self._unrecorded(run, state, active_handle, now)
            return
        status: JobStatus | None
        try:
            status = await self.backend_of(run).status(run.backend_handle)
        except (BackendUnavailable, BackendNotBuilt) as exc:
            logger.warning("backend cannot tell", run_id=str(run.id), error=str(exc))
            status = None
        if status is not None and status.state in (JobState.EXITED, JobState.LOST):
            await self.finish(run, status)
            return
        if status is not None:
            await self._alive(run, state, now, status)
            await self._ship_logs(run, final=False)
            await self._ship_task_files(run)
        if state == RunState.CANCELING:
            await self._stop(run, now)
        elif state == RunState.RUNNING and status is None:
            await self._check_silence(run, now)

    async def finish(self, run: Run, status: JobStatus) -> None:
        """The launcher is gone: count its trace, then end the run as its exit says."""
        assert run.backend_handle is not None
        state = RunState(run.state)
        code = status.exit_code
        if state == RunState.CANCELING:
            target = RunState.CANCELED
            reason = "Canceled." + (
                f" Nextflow exited with code {code}." if code is not None else ""
            )
        elif status.state == JobState.LOST:
            target, reason = RunState.SYSTEM_ERROR, f"The run was lost: {status.detail}."
        elif code == 0:
            target, reason = RunState.COMPLETE, None
        else:
            target = RunState.EXECUTOR_ERROR
            reason = run.error_message or f"Nextflow exited with code {code}; see the run's log."
        await self._ship_logs(run, final=True)
        async with self.sessionmaker() as session, session.begin():
            await self._import_trace(session, run)
        # Before the run ends: a reader of the failed run finds its failed task's stderr.
        await self._ship_task_files(run)
        now = _now()
        async with self.sessionmaker() as session, session.begin():
            # Nextflow's "started" event may never have come (the worker was down, the weblog
            # was lost): its first task, from the weblog or the trace, says when it began.
            # (An aggregate over all its tasks: only when the start is still unknown.)
            first_task = (
                await TaskRepository(session).first_seen(run.id)
                if run.workflow_started_at is None
                else None
            )
            moved = await RunRepository(session).move(
                run.id,
                target,
                {"exit_code": code, "finished_at": now, "state_reason": reason},
                now,
                fill={"workflow_started_at": first_task} if first_task is not None else None,
            )
        if moved:
            logger.info("run finished", run_id=str(run.id), state=target.value, exit_code=code)
            await self._store_metrics(run)

    async def refresh_metrics(self) -> None:
        """Running runs' metrics that readers found too old, computed anew (a reader is
        answered the stored ones meanwhile: TaskService.metrics)."""
        async with self.sessionmaker() as session:
            run_ids = await TaskRepository(session).metrics_to_refresh(limit=BATCH)
        for run_id in run_ids:
            try:
                async with self.sessionmaker() as session, session.begin():
                    await TaskService(session).refresh_metrics(run_id)
            except Exception as exc:
                logger.warning("refreshing the run's metrics failed", run_id=str(run_id),
                               error=type(exc).__name__)  # fmt: skip

    async def _store_metrics(self, run: Run) -> None:
        """The ended run's metrics computed and stored now, while nobody waits for them: its
        first reader gets them stored (TaskService.final_metrics). A failure here only
        leaves them to that reader."""
        try:
            async with self.sessionmaker() as session, session.begin():
                await TaskService(session).final_metrics(run.id)
        except Exception as exc:
            logger.warning("storing the run's metrics failed", run_id=str(run.id),
                           error=type(exc).__name__)  # fmt: skip

    async def _ship_logs(self, run: Run, *, final: bool) -> None:
        """A log that cannot be shipped (unreadable) never keeps a run from being followed."""
        try:
            await self.shipper.ship(run, self.backend_of(run), final=final)
        except Exception as exc:
            logger.warning("log shipping failed", run_id=str(run.id), error=type(exc).__name__)

    async def _ship_task_files(self, run: Run) -> None:
        """A failed task's files, like the logs, never keep a run from being followed."""
        try:
            await self.task_files.ship_failed(run, self.backend_of(run))
        except Exception as exc:
            logger.warning("task file shipping failed", run_id=str(run.id),
                           error=type(exc).__name__)  # fmt: skip

    async def serve_task_files(self, *, owned: bool, shared: bool) -> None:
        """The task files the API asked for, of the runs this worker may read (ended ones too:
        a work dir outlives its run)."""
        owners = ([self.settings.WORKER_HOST] if owned else []) + ([None] if shared else [])
        for owner in owners:
            try:
                await self.task_files.serve(
                    self.backend_of, owned_by=owner, host_bound=HOST_BOUND_BACKENDS
                )
            except Exception as exc:
                logger.exception("serving task files failed", error=type(exc).__name__)

    async def _import_trace(self, session: AsyncSession, run: Run) -> None:
        assert run.backend_handle is not None
        tasks = TaskRepository(session)
        rows: list[dict[str, Any]] = []
        async for record in self.backend_of(run).trace(run.backend_handle):
            row = task_values(record)
            if row is not None:
                rows.append(row)
            if len(rows) >= TRACE_BATCH:
                await tasks.upsert(run.id, rows)
                rows = []
        await tasks.upsert(run.id, rows)

    async def _unrecorded(
        self, run: Run, state: RunState, active_handle: dict[str, Any] | None, now: datetime
    ) -> None:
        """A claimed run whose submission was never recorded: its dispatcher died, or is slow."""
        recovery = timedelta(seconds=self.settings.SUBMIT_RECOVERY_SECONDS)
        if run.initializing_at is None or now - run.initializing_at < recovery:
            return
        if active_handle is not None:
            async with self.sessionmaker() as session, session.begin():
                await RunRepository(session).record_submission(
                    run.id,
                    handle=active_handle,
                    launch_dir=active_handle.get("launch_dir"),
                    work_dir=active_handle.get("work_dir"),
                    now=now,
                )
            logger.info("recovered an unrecorded submission", run_id=str(run.id))
        elif state == RunState.CANCELING:
            async with self.sessionmaker() as session, session.begin():
                await RunRepository(session).move(
                    run.id,
                    RunState.CANCELED,
                    {"finished_at": now, "state_reason": "Canceled before it was launched."},
                    now,
                )
        elif state == RunState.INITIALIZING:
            logger.info("submitting a claimed run again", run_id=str(run.id))
            await self.dispatcher.submit(run.id)

    async def _alive(self, run: Run, state: RunState, now: datetime, status: JobStatus) -> None:
        async with self.sessionmaker() as session, session.begin():
            runs = RunRepository(session)
            # Until Nextflow's first event, the run shows why a scheduler keeps it waiting.
            waiting = status.detail if status.state == JobState.PENDING else None
            if state == RunState.INITIALIZING and run.state_reason != waiting:
                await runs.touch(run.id, {"last_seen_at": now, "state_reason": waiting})
            elif state == RunState.UNKNOWN:
                await runs.move(
                    run.id,
                    RunState.RUNNING,
                    {"last_seen_at": now, "state_reason": None, "owner_lost_at": None},
                    now,
                )
            elif run.last_seen_at is None or now - run.last_seen_at > SEEN_WRITE_INTERVAL:
                await runs.touch(run.id, {"last_seen_at": now})

    async def _stop(self, run: Run, now: datetime) -> None:
        assert run.backend_handle is not None
        grace = timedelta(seconds=self.settings.CANCEL_GRACE_SECONDS)
        try:
            backend = self.backend_of(run)
            if run.cancel_signalled_at is None:
                await backend.cancel(run.backend_handle, force=False)
                async with self.sessionmaker() as session, session.begin():
                    await RunRepository(session).touch(run.id, {"cancel_signalled_at": now})
            elif now - run.cancel_signalled_at >= grace:
                await backend.cancel(run.backend_handle, force=True)
        except (BackendUnavailable, BackendNotBuilt) as exc:
            logger.warning("cannot signal the run yet", run_id=str(run.id), error=str(exc))

    async def _check_silence(self, run: Run, now: datetime) -> None:
        deadline = timedelta(seconds=self.settings.SILENCE_DEADLINE_SECONDS)
        heard = [t for t in (run.last_event_at, run.last_seen_at, run.running_at) if t is not None]
        heard = heard or [t for t in (run.initializing_at,) if t is not None]
        if not heard or now - max(heard) <= deadline:
            return
        seconds = f"{deadline.total_seconds():g} s"
        if run.source != "external":
            target = RunState.UNKNOWN
            reason = (
                f"No event from Nextflow and no answer from the {run.backend} backend "
                f"for over {seconds}."
            )
        elif run.state == RunState.RUNNING.value:
            target, reason = RunState.UNKNOWN, f"No report from Nextflow for over {seconds}."
        else:
            # Created, never begun: Nextflow died before running anything (a later report
            # cannot bring an ended run back, so this waits as long as a silent RUNNING run).
            target = RunState.SYSTEM_ERROR
            reason = f"Nextflow announced the run, then nothing for over {seconds}."
        values: dict[str, Any] = {"state_reason": reason}
        values["unknown_at" if target == RunState.UNKNOWN else "finished_at"] = now
        async with self.sessionmaker() as session, session.begin():
            await RunRepository(session).move(run.id, target, values, now)

    async def _active_jobs(self) -> dict[uuid.UUID, tuple[JobBackend, ActiveJob]]:
        """The jobs alive on every backend: the worker's own and each environment's."""
        backends = [self.backends.default]
        for env in self._envs.values():
            try:
                backends.append(self.backends.of(env))
            except BackendNotBuilt:
                continue
        found: dict[uuid.UUID, tuple[JobBackend, ActiveJob]] = {}
        for backend in {id(backend): backend for backend in backends}.values():
            try:
                jobs = await backend.list_active()
            except BackendUnavailable as exc:
                logger.warning("cannot list the backend's jobs", error=str(exc))
                continue
            for job in jobs:
                found.setdefault(job.run_id, (backend, job))
        return found

    async def _stop_orphans(
        self, candidates: dict[uuid.UUID, tuple[JobBackend, ActiveJob]]
    ) -> None:
        """Launchers still running for runs that have ended (or were never ours to start)."""
        if not candidates:
            return
        async with self.sessionmaker() as session:
            states = await RunRepository(session).states_of(list(candidates))
        for run_id, (backend, job) in candidates.items():
            state = states.get(run_id)
            if state is None:
                logger.warning("a launcher runs for a run this database does not know",
                               run_id=str(run_id))  # fmt: skip
            elif RunState(state).terminal:
                logger.warning("stopping the launcher of an ended run", run_id=str(run_id))
                await backend.cancel(job.handle, force=True)
