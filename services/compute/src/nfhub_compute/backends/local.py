"""The local backend: ``nextflow run`` as a process group on this machine (the embedded default).

Layout under COMPUTE_WORK_ROOT (a compute environment names the launch root, which replaces
``runs/``, and the work root, which replaces ``work/``):

    runs/<run id>/          the run's launch directory (Nextflow's cwd; launchdir.py has its
                            files, secrets_store.py the .secrets/ store); job.json is the
                            handle: launcher pid, its start time, boot id, host
    work/<run id>/          the work directory (-work-dir), shared with resumed runs

A pid alone can be reused after the process dies; the handle pairs it with the process's
start time (/proc/<pid>/stat) and the boot id, so a restarted worker never mistakes another
process for a run's launcher.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import uuid
from collections.abc import Mapping
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

logger = structlog.get_logger("nfhub.compute.local")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def process_identity(pid: int) -> tuple[int, str] | None:
    """(start time in clock ticks since boot, state letter) of a process, None if absent."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    return int(fields[19]), fields[0]


class LocalBackend(LaunchDirReader):
    name = "local"
    host_independent = False

    def __init__(
        self,
        work_root: Path,
        *,
        launch_root: Path | None = None,
        nextflow_bin: str = "nextflow",
        env: Mapping[str, str] | None = None,
        host: str | None = None,
    ) -> None:
        """``work_root`` alone: launch dirs in its runs/, work dirs in its work/ (the global
        COMPUTE_WORK_ROOT); with ``launch_root`` (a compute environment), launch dirs go
        there and work dirs straight under ``work_root``."""
        self.root = work_root.expanduser().resolve()
        self.launch_root = (
            launch_root.expanduser().resolve() if launch_root is not None else self.root / "runs"
        )
        self.work_root = self.root if launch_root is not None else self.root / "work"
        self.nextflow_bin = nextflow_bin
        self.env = launch_environment(env or {})
        # The worker's host identity (COMPUTE_WORKER_HOST): handles carry it, and a handle of
        # another host is not this backend's to answer for.
        self.host = host or socket.gethostname()
        self.boot_id = _boot_id()
        # Launchers this process started: reaped so they never linger as zombies.
        self._children: set[int] = set()

    def launch_dir(self, run_id: uuid.UUID) -> Path:
        return self.launch_root / str(run_id)

    # -- submit ------------------------------------------------------------------------------

    async def submit(self, spec: LaunchSpec) -> SubmittedJob:
        return await anyio.to_thread.run_sync(self._submit, spec)

    def _submit(self, spec: LaunchSpec) -> SubmittedJob:
        launch_dir = self.launch_dir(spec.run_id)
        work_dir = Path(spec.work_dir) if spec.work_dir else self.work_root / str(spec.run_id)
        with submit_lock(launch_dir):
            existing = read_json(launch_dir / "job.json")
            if existing is not None:
                return SubmittedJob(existing, str(launch_dir), existing.get("work_dir"))
            nextflow = find_nextflow(self.nextflow_bin, self.env)
            prepare(spec, launch_dir, work_dir)
            command = nextflow_command(nextflow, spec, launch_dir, work_dir)
            pid = self._spawn(
                launcher_command(launch_dir, command, spec),
                console=launch_dir / "console.log",
                env={**self.env, **secrets_store.environment(launch_dir)},
            )
            identity = process_identity(pid)
            handle = {
                "run_id": str(spec.run_id),
                "pid": pid,
                "start_ticks": identity[0] if identity else None,
                "boot_id": self.boot_id,
                "host": self.host,
                "launch_dir": str(launch_dir),
                "work_dir": str(work_dir),
            }
            write_atomic(launch_dir / "job.json", json.dumps(handle))
            logger.info("run launched", run_id=str(spec.run_id), pid=pid)
            return SubmittedJob(handle, str(launch_dir), str(work_dir))

    def _spawn(self, argv: list[str], *, console: Path, env: Mapping[str, str]) -> int:
        """Start the launcher detached: its own session (SIGTERM to the group reaches Nextflow),
        output to the console log, nothing tied to this process's lifetime."""
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    str(console),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o644,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        self._children.add(pid)
        return pid

    def _reap(self, pid: int) -> None:
        if pid not in self._children:
            return
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done == pid:
            self._children.discard(pid)

    # -- watch -------------------------------------------------------------------------------

    def _alive(self, handle: Mapping[str, Any]) -> bool:
        pid = int(handle["pid"])
        self._reap(pid)
        if handle.get("boot_id") != self.boot_id:
            return False  # the machine restarted since
        identity = process_identity(pid)
        return (
            identity is not None and identity[0] == handle.get("start_ticks") and identity[1] != "Z"
        )

    def _check_host(self, handle: Mapping[str, Any]) -> None:
        if handle.get("host") != self.host:
            raise BackendUnavailable(
                f"the run's launcher runs on host {handle.get('host')}, not on {self.host}"
            )
        folder = Path(handle["launch_dir"]).parent
        if not folder.is_dir():
            raise BackendUnavailable(f"the launch folder {folder} is not reachable")

    async def status(self, handle: dict[str, Any]) -> JobStatus:
        self._check_host(handle)
        launch_dir = Path(handle["launch_dir"])
        self._reap(int(handle["pid"]))
        ended = read_json(launch_dir / "exit.json")
        if ended is None and self._alive(handle):
            return JobStatus(JobState.RUNNING)
        ended = ended or read_json(launch_dir / "exit.json")  # it may have just been written
        # Ended: the launcher removed the secrets, unless it was killed first.
        await anyio.to_thread.run_sync(secrets_store.remove_store, launch_dir)
        if ended is not None and isinstance(ended.get("exit_code"), int):
            return JobStatus(JobState.EXITED, exit_code=int(ended["exit_code"]))
        return JobStatus(
            JobState.LOST,
            detail=f"the launcher (pid {handle['pid']} on {self.host}) is gone and left no exit "
            f"code: it was killed, or the machine restarted",
        )

    async def cancel(self, handle: dict[str, Any], *, force: bool) -> None:
        self._check_host(handle)
        if not self._alive(handle):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(int(handle["pid"]), signal.SIGKILL if force else signal.SIGTERM)
        if force:  # the launcher is killed too: nobody else removes the secrets
            secrets_store.remove_store(Path(handle["launch_dir"]))
        logger.info("run signalled", run_id=handle.get("run_id"), force=force)

    async def list_active(self) -> list[ActiveJob]:
        def scan() -> list[ActiveJob]:
            found = []
            for job_file in self.launch_root.glob("*/job.json"):
                # An ended launcher's folder (most of them) costs a stat, not a read.
                if (job_file.parent / "exit.json").exists():
                    continue
                handle = read_json(job_file)
                if handle is None or handle.get("host") != self.host or not self._alive(handle):
                    continue
                with contextlib.suppress(ValueError, KeyError):
                    found.append(ActiveJob(uuid.UUID(str(handle["run_id"])), handle))
            return found

        return await anyio.to_thread.run_sync(scan)

    async def check(self) -> list[str]:
        """The launch and work roots exist and are writable by this process (on one host, the
        worker's user is the API's), and the nextflow executable is on the launch PATH."""

        def run() -> list[str]:
            problems = []
            for path, what in (
                (self.launch_root, "launch folder"),
                (self.work_root, "work folder"),
            ):
                problem = writable_folder_problem(path, what)
                if problem is not None:
                    problems.append(problem)
            try:
                find_nextflow(self.nextflow_bin, self.env)
            except SubmitFailed as exc:
                problems.append(str(exc))
            return problems

        return await anyio.to_thread.run_sync(run)

    async def close(self) -> None:
        # Launchers outlive the worker on purpose; reap only those that have already ended.
        for pid in list(self._children):
            self._reap(pid)
