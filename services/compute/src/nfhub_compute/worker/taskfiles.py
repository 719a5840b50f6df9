"""Ships tasks' work-dir files (.command.out/.err/.log/.sh) to the database.

The worker that reconciles a run is the one that can read its work dirs (its host's for the
local backend, any worker's for Slurm with the shared filesystem), so it ships them:

- a failed task's on its own, while the run is followed and when it ends (the files then
  survive a work-dir cleanup), at most COMPUTE_TASK_LOG_AUTO_TASKS tasks of a run;
- any task's when the API asks (a ``pending`` task_file_fetches row; the API's NOTIFY wakes
  the worker), for an ended run too, while the work dir exists.

Each file is read through the run's backend, redacted as the run logs are, and cut to
COMPUTE_TASK_LOG_MAX_BYTES (head and tail around a line saying what was cut). A work dir that
cannot be read is recorded ``gone``, with why: the API answers 404 with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.backends.base import BackendUnavailable, JobBackend, TaskFileGone
from nfhub_compute.backends.factory import BackendNotBuilt
from nfhub_compute.config import Settings
from nfhub_compute.models import TASK_FILES, Run
from nfhub_compute.tasks.repository import TaskFileRepository

logger = structlog.get_logger("nfhub.compute.taskfiles")

# At most this many tasks' files are read per run (failed ones) or per pass (requests): a
# run with many failures does not hold up the others; the next pass goes on.
TASKS_PER_PASS = 20


def work_roots(run: Run) -> list[str]:
    """The folders the run's tasks' work dirs may be in: its work dir as launched and as
    Nextflow reported it (a compute environment's config may move it)."""
    handle = run.backend_handle or {}
    candidates = (run.work_dir, handle.get("work_dir"), (run.workflow or {}).get("workDir"))
    return sorted({root for root in candidates if isinstance(root, str) and root.startswith("/")})


class TaskFileShipper:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings):
        self.sessionmaker = sessionmaker
        self.settings = settings

    async def ship_failed(self, run: Run, backend: JobBackend) -> None:
        """The files of the run's failed tasks not shipped yet (within the run's bound)."""
        async with self.sessionmaker() as session:
            files = TaskFileRepository(session)
            tasks = await files.unshipped_failed(run.id, limit=TASKS_PER_PASS)
            if not tasks:
                return
            budget = self.settings.TASK_LOG_AUTO_TASKS - await files.count_shipped(run.id)
        for task_id, workdir in tasks[: max(budget, 0)]:
            await self.ship(run, backend, task_id, workdir)

    async def serve(
        self,
        backend_of: Callable[[Run], JobBackend],
        *,
        owned_by: str | None,
        host_bound: Sequence[str],
    ) -> int:
        """Ship what the API asked for, of the runs this worker may read; how many were."""
        async with self.sessionmaker() as session:
            pending = await TaskFileRepository(session).pending(
                owned_by=owned_by, host_bound=host_bound, limit=TASKS_PER_PASS
            )
        for run, task_id, workdir in pending:
            try:
                backend = backend_of(run)
            except (BackendUnavailable, BackendNotBuilt) as exc:
                logger.warning("cannot read task files yet", run_id=str(run.id), error=str(exc))
                continue
            await self.ship(run, backend, task_id, workdir)
        return len(pending)

    async def ship(self, run: Run, backend: JobBackend, task_id: int, workdir: str | None) -> None:
        """Read the task's files and store them, or record why they cannot be read."""
        read: dict[str, tuple[str, int, bool]] = {}
        problem: str | None = None
        if run.backend_handle is None:
            problem = "the run was never launched."
        elif workdir is None:
            problem = f"Nextflow reported no work dir for task {task_id}."
        else:
            try:
                for name, filename in TASK_FILES.items():
                    found = await backend.task_file(
                        run.backend_handle,
                        f"{workdir.rstrip('/')}/{filename}",
                        work_roots(run),
                        max_bytes=self.settings.TASK_LOG_MAX_BYTES,
                    )
                    read[name] = (found.text, found.size, found.truncated)
            except TaskFileGone as exc:
                problem = str(exc)
            except BackendUnavailable as exc:  # the shared folder unmounted, say: later
                logger.warning("cannot read task files now", run_id=str(run.id), error=str(exc))
                return
        async with self.sessionmaker() as session, session.begin():
            files = TaskFileRepository(session)
            if problem is not None:
                await files.gone(run.id, task_id, problem)
            else:
                await files.store(run.id, task_id, read)
        logger.info("task files read", run_id=str(run.id), task_id=task_id,
                    shipped=problem is None)  # fmt: skip
