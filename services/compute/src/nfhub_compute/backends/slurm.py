"""The Slurm backend: a run's Nextflow head job is a batch job on a Slurm cluster.

The batch script runs the same launcher wrapper as the local backend, in the run's launch
directory under ``launch_root`` (launchdir.py has its files; the folder must be on a filesystem
the cluster's nodes share), and the launcher writes exit.json when Nextflow ends. Slurm tells
whether the job is pending (and why), running or gone; exit.json tells how it ended.

- submit: ``sbatch --parsable`` of job.sbatch, named ``nfhub-<run id>`` (the comment says it
  too). Idempotent: job.json first, then a job of that name in ``squeue``, before submitting.
  The environment of the job is the launch environment, never the worker's (``--export=ALL``
  of an sbatch started with that environment); the weblog secret stays in the 0600 config.
- status: one ``squeue`` of all this user's nfhub jobs, reused for a second (a reconciler
  pass asks about every run), else ``squeue -j``, and ``sacct -c`` (the job completion log:
  no slurmdbd needed) once the controller has forgotten the job.
- cancel: records the request in cancel.json, since Slurm's state does not say it (a job
  signalled with ``scancel --signal`` ends FAILED, RECIPES); a running job gets SIGTERM (the
  launcher survives it and records Nextflow's exit), a pending one or a forced cancel a plain
  ``scancel`` (Slurm's TERM, then KILL after its KillWait).

The Slurm commands are found on the worker's PATH and read SLURM_CONF from its environment.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import structlog

from nfhub_compute.backends import secrets_store
from nfhub_compute.backends.base import (
    ActiveJob,
    BackendUnavailable,
    JobState,
    JobStatus,
    LaunchSpec,
    SubmitFailed,
    SubmittedJob,
)
from nfhub_compute.backends.launchdir import (
    LaunchDirReader,
    find_nextflow,
    launch_environment,
    launcher_command,
    nextflow_command,
    prepare,
    read_json,
    submit_lock,
    writable_folder_problem,
    write_atomic,
)

logger = structlog.get_logger("nfhub.compute.slurm")

JOB_PREFIX = "nfhub-"
COMMAND_SECONDS = 30.0
# How long one squeue of all jobs answers status() for (a reconciler pass asks about each run).
SNAPSHOT_SECONDS = 1.0
QUEUE_FORMAT = "%i|%j|%T|%r|%Z"
# Slurm job states in which the job is still the controller's (squeue's default set).
WAITING_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "RESV_DEL_HOLD",
     "SPECIAL_EXIT"}
)  # fmt: skip
RUNNING_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
)
# Flags nfhub sets itself: an option from the environment must not change where the job runs
# from, what it is called, what it runs or which environment it gets.
OWN_FLAGS = (
    "--job-name", "--comment", "--chdir", "--output", "--error", "--open-mode", "--export",
    "--parsable", "--wrap", "--requeue", "--no-requeue", "--array", "--input", "--export-file",
)  # fmt: skip


@dataclass(frozen=True)
class SlurmJobOptions:
    """How the head job is submitted (a compute environment's Slurm options)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time_limit: str | None = None  # Slurm's forms: minutes, HH:MM:SS, D-HH…
    memory: str | None = None  # Slurm's --mem: 4G, 500M
    cpus: int | None = None
    extra_args: tuple[str, ...] = ()  # allow-listed by the caller

    def __post_init__(self) -> None:
        for arg in self.extra_args:
            if not arg.startswith("--") or any(c.isspace() for c in arg):
                raise ValueError(
                    f"extra sbatch option {arg!r}: give each as one --name or --name=value"
                )
            if arg.split("=", 1)[0] in OWN_FLAGS:
                raise ValueError(f"extra sbatch option {arg!r}: nfhub sets this one itself")
        if self.cpus is not None and self.cpus < 1:
            raise ValueError("cpus must be at least 1")

    def sbatch_args(self) -> list[str]:
        values = {
            "--partition": self.partition,
            "--account": self.account,
            "--qos": self.qos,
            "--time": self.time_limit,
            "--mem": self.memory,
            "--cpus-per-task": None if self.cpus is None else str(self.cpus),
        }
        return [f"{flag}={value}" for flag, value in values.items() if value] + list(
            self.extra_args
        )


@dataclass(frozen=True)
class SlurmJob:
    job_id: str
    name: str
    state: str
    reason: str
    chdir: str = ""

    @property
    def active(self) -> bool:
        return self.state in WAITING_STATES or self.state in RUNNING_STATES


def job_name(run_id: uuid.UUID | str) -> str:
    return f"{JOB_PREFIX}{run_id}"


def batch_script(spec: LaunchSpec, launch_dir: Path, command: list[str]) -> str:
    return (
        "#!/bin/sh\n"
        f"# nfhub: the Nextflow head job of run {spec.run_id}; the launcher records its exit "
        f"code.\n"
        f"exec {shlex.join(launcher_command(launch_dir, command, spec))}\n"
    )


class SlurmBackend(LaunchDirReader):
    name = "slurm"
    # Any worker reaches the scheduler and the launch dir (on the shared filesystem).
    host_independent = True

    def __init__(
        self,
        *,
        launch_root: Path,
        work_root: Path,
        nextflow_bin: str,
        env: Mapping[str, str],
        options: SlurmJobOptions,
    ) -> None:
        self.launch_root = launch_root.expanduser().resolve()
        self.work_root = work_root.expanduser().resolve()
        self.nextflow_bin = nextflow_bin
        self.env = launch_environment(env)
        self.options = options
        self._snapshot: tuple[float, dict[str, SlurmJob]] | None = None

    def launch_dir(self, run_id: uuid.UUID | str) -> Path:
        return self.launch_root / str(run_id)

    # -- Slurm's commands --------------------------------------------------------------------

    async def _slurm(
        self, *argv: str, env: Mapping[str, str] | None = None
    ) -> tuple[int, str, str]:
        """(exit status, stdout, stderr) of a Slurm command; BackendUnavailable if it hangs."""
        program = shutil.which(argv[0])
        if program is None:
            raise BackendUnavailable(
                f"{argv[0]} is not on the worker's PATH: install Slurm's client commands"
            )
        try:
            with anyio.fail_after(COMMAND_SECONDS):
                done = await anyio.run_process(
                    [program, *argv[1:]], env=dict(env or os.environ), check=False
                )
        except TimeoutError as exc:
            raise BackendUnavailable(
                f"{argv[0]} did not answer in {COMMAND_SECONDS:g} s: is slurmctld up?"
            ) from exc
        return (
            done.returncode,
            done.stdout.decode(errors="replace"),
            done.stderr.decode(errors="replace"),
        )

    async def _queue(self, *selection: str) -> list[SlurmJob]:
        code, out, err = await self._slurm("squeue", "--me", "-h", "-o", QUEUE_FORMAT, *selection)
        if code != 0:
            if "Invalid job id" in err:
                return []
            raise BackendUnavailable(f"squeue failed: {err.strip() or f'exit status {code}'}")
        jobs = []
        for line in out.splitlines():
            parts = line.split("|", 4)
            if len(parts) == 5:
                jobs.append(SlurmJob(*parts))
        return jobs

    async def _snapshot_jobs(self) -> dict[str, SlurmJob]:
        jobs = {
            job.job_id: job
            for job in await self._queue("-t", "all")
            if job.name.startswith(JOB_PREFIX)
        }
        self._snapshot = (time.monotonic(), jobs)
        return jobs

    async def _job(self, job_id: str) -> SlurmJob | None:
        if self._snapshot is not None:
            taken, jobs = self._snapshot
            if time.monotonic() - taken < SNAPSHOT_SECONDS and job_id in jobs:
                return jobs[job_id]
        found = await self._queue("-t", "all", "-j", job_id)
        if found:
            return found[0]
        return await self._completed(job_id)

    async def _completed(self, job_id: str) -> SlurmJob | None:
        """A job the controller no longer lists, from the job completion log (``sacct -c``)."""
        found = [job for job in await self._completion_log("-j", job_id) if job.job_id == job_id]
        return found[0] if found else None

    async def _completion_log(self, *selection: str) -> list[SlurmJob]:
        code, out, _ = await self._slurm(
            "sacct", "-c", "-n", "-P", "-o", "JobID,JobName,State,ExitCode", *selection
        )
        if code != 0:
            return []
        jobs = []
        for line in out.splitlines():
            parts = line.split("|")
            if len(parts) >= 4:
                state = (parts[2].split() or [""])[0]
                jobs.append(SlurmJob(parts[0], parts[1], state, f"exit code {parts[3]}"))
        return jobs

    # -- submit ------------------------------------------------------------------------------

    async def submit(self, spec: LaunchSpec) -> SubmittedJob:
        launch_dir = self.launch_dir(spec.run_id)
        work_dir = Path(spec.work_dir) if spec.work_dir else self.work_root / str(spec.run_id)
        # The lock (a file in the launch dir) is taken in a thread: a second submit waits there.
        lock = submit_lock(launch_dir)
        await anyio.to_thread.run_sync(lock.__enter__)
        try:
            return await self._submit_locked(spec, launch_dir, work_dir)
        finally:
            await anyio.to_thread.run_sync(lock.__exit__, None, None, None)

    async def _submit_locked(
        self, spec: LaunchSpec, launch_dir: Path, work_dir: Path
    ) -> SubmittedJob:
        existing = read_json(launch_dir / "job.json")
        if existing is not None:
            return SubmittedJob(existing, str(launch_dir), existing.get("work_dir"))
        name = job_name(spec.run_id)
        # Submitted before, but job.json was never written (the worker died in between).
        found = await self._queue("-t", "all", "-n", name)
        if not found and await anyio.Path(launch_dir / "job.sbatch").exists():
            # It got as far as sbatch, maybe; the controller may have forgotten a job that
            # ended (MinJobAge). sacct -c ignores --name: the names are compared here.
            found = [job for job in await self._completion_log() if job.name == name]
        if found:
            return self._record(spec.run_id, found[0].job_id, launch_dir, work_dir)
        nextflow = find_nextflow(self.nextflow_bin, self.env)

        def write_files() -> Path:
            prepare(spec, launch_dir, work_dir)
            command = nextflow_command(nextflow, spec, launch_dir, work_dir)
            script = launch_dir / "job.sbatch"
            write_atomic(script, batch_script(spec, launch_dir, command), mode=0o755)
            return script

        try:
            script = await anyio.to_thread.run_sync(write_files)
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot write the launch directory {launch_dir}: {exc}"
            ) from exc
        code, out, err = await self._slurm(
            "sbatch", "--parsable", f"--job-name={name}", f"--comment=nfhub run {spec.run_id}",
            f"--chdir={launch_dir}", f"--output={launch_dir / 'console.log'}",
            "--open-mode=append", "--export=ALL", "--no-requeue",
            *self.options.sbatch_args(), str(script),
            env={**self._sbatch_env(), **secrets_store.environment(launch_dir)},
        )  # fmt: skip
        if code != 0:
            message = err.strip() or f"exit status {code}"
            if "Unable to contact slurm controller" in message or "Socket timed out" in message:
                raise BackendUnavailable(f"sbatch: {message}")
            raise SubmitFailed(f"Slurm refused the head job: {message}")
        job_id = out.strip().split(";", 1)[0]
        logger.info("run submitted to slurm", run_id=str(spec.run_id), job_id=job_id)
        return self._record(spec.run_id, job_id, launch_dir, work_dir)

    def _sbatch_env(self) -> dict[str, str]:
        """The job's environment (sbatch exports its own): the launch environment and where
        Slurm's config is; never the worker's secrets, nor a SLURM_JOB_* of a worker that
        itself runs inside a job."""
        where = {"SLURM_CONF": os.environ["SLURM_CONF"]} if "SLURM_CONF" in os.environ else {}
        return {**where, **self.env}

    def _record(
        self, run_id: uuid.UUID, job_id: str, launch_dir: Path, work_dir: Path
    ) -> SubmittedJob:
        handle = {
            "run_id": str(run_id),
            "job_id": job_id,
            "job_name": job_name(run_id),
            "launch_dir": str(launch_dir),
            "work_dir": str(work_dir),
        }
        write_atomic(launch_dir / "job.json", json.dumps(handle))
        return SubmittedJob(handle, str(launch_dir), str(work_dir))

    # -- watch -------------------------------------------------------------------------------

    async def status(self, handle: dict[str, Any]) -> JobStatus:
        job_id = str(handle["job_id"])
        launch_dir = Path(handle["launch_dir"])
        job = await self._job(job_id)
        if job is not None and job.state in WAITING_STATES:
            return JobStatus(
                JobState.PENDING,
                detail=f"Waiting in Slurm's queue (job {job_id}, {job.state}): {job.reason}",
            )
        if job is not None and job.state in RUNNING_STATES:
            return JobStatus(JobState.RUNNING)
        # Ended: the launcher removed the secrets, unless Slurm killed it first.
        await anyio.to_thread.run_sync(secrets_store.remove_store, launch_dir)
        ended = read_json(launch_dir / "exit.json")
        if ended is not None and isinstance(ended.get("exit_code"), int):
            return JobStatus(JobState.EXITED, exit_code=int(ended["exit_code"]))
        how = (
            f"ended {job.state} ({job.reason})"
            if job is not None
            else "is gone from squeue and the job completion log"
        )
        asked = read_json(launch_dir / "cancel.json")
        detail = f"the Slurm job {job_id} {how} without an exit code from the launcher"
        if asked is not None:
            detail += " after nfhub asked to cancel it"
        return JobStatus(JobState.LOST, detail=detail)

    async def cancel(self, handle: dict[str, Any], *, force: bool) -> None:
        job_id = str(handle["job_id"])
        launch_dir = Path(handle["launch_dir"])
        asked = read_json(launch_dir / "cancel.json") or {"requested_at": time.time()}
        asked["forced_at" if force else "signalled_at"] = time.time()
        await anyio.to_thread.run_sync(
            lambda: write_atomic(launch_dir / "cancel.json", json.dumps(asked))
        )
        self._snapshot = None
        job = await self._job(job_id)
        if job is None or not job.active:
            return
        if force or job.state in WAITING_STATES:
            argv = ["scancel", job_id]
        else:
            argv = ["scancel", "--signal=TERM", "--full", job_id]
        code, _, err = await self._slurm(*argv)
        if code != 0:
            # The job ended, or went back to the queue, in between: the next pass sees it.
            logger.warning("scancel failed", run_id=handle.get("run_id"), error=err.strip())
        logger.info("run signalled", run_id=handle.get("run_id"), job_id=job_id, force=force)

    async def list_active(self) -> list[ActiveJob]:
        """This backend's jobs Slurm still runs or queues (a restarted worker adopts them)."""
        jobs = await self._snapshot_jobs()
        found = []
        for job in jobs.values():
            if not job.active:
                continue
            try:
                run_id = uuid.UUID(job.name.removeprefix(JOB_PREFIX))
            except ValueError:
                continue
            launch_dir = self.launch_dir(run_id)
            if Path(job.chdir) != launch_dir:
                continue  # another nfhub's job (another launch root) on the same cluster
            handle = read_json(launch_dir / "job.json") or {
                "run_id": str(run_id),
                "job_id": job.job_id,
                "job_name": job.name,
                "launch_dir": str(launch_dir),
                "work_dir": str(self.work_root / str(run_id)),
            }
            found.append(ActiveJob(run_id, handle))
        return found

    async def check(self) -> list[str]:
        """What stops this backend from running jobs (empty when nothing does)."""
        problems = []
        try:
            code, out, err = await self._slurm("sinfo", "-h", "-o", "%R|%a")
        except BackendUnavailable as exc:
            problems.append(str(exc))
        else:
            partitions = dict(line.split("|", 1) for line in out.splitlines() if "|" in line)
            wanted = self.options.partition
            if code != 0:
                problems.append(f"sinfo does not answer: {err.strip() or f'exit status {code}'}")
            elif not partitions:
                problems.append("Slurm has no partition")
            elif wanted is not None and wanted not in partitions:
                problems.append(
                    f"Slurm has no partition {wanted!r}; it has {', '.join(sorted(partitions))}"
                )
            elif wanted is not None and partitions[wanted] != "up":
                problems.append(f"the Slurm partition {wanted!r} is {partitions[wanted]}")
        for what, folder in (("launch", self.launch_root), ("work", self.work_root)):
            problem = await anyio.to_thread.run_sync(
                writable_folder_problem, folder, f"{what} folder"
            )
            if problem is not None:
                problems.append(problem)
        for program in ("sbatch", "squeue", "scancel", "sacct"):
            if shutil.which(program) is None:
                problems.append(f"{program} is not on the worker's PATH")
        return problems

    async def close(self) -> None:
        """Nothing to release: the jobs are the cluster's, and outlive the worker on purpose."""
