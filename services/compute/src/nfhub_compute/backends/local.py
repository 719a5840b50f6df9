"""The local backend: ``nextflow run`` as a process group on this machine (the embedded default).

Layout under COMPUTE_WORK_ROOT:

    runs/<run id>/          the run's launch directory (Nextflow's cwd)
        params.json         the parameters (-params-file)
        nfhub.config        trace and weblog settings (-c, mode 0600): the weblog URL carries the
                            run's secret, so it is in no command line and no log
        job.json            the handle: launcher pid, its start time, boot id, host
        exit.json           written by the launcher when Nextflow exits
        console.log         Nextflow's stdout and stderr
        .nextflow.log       Nextflow's own log
        trace.txt           Nextflow's trace (raw values)
        .nextflow/cache/    the session cache -resume needs
    work/<run id>/          the work directory (-work-dir), shared with resumed runs

A pid alone can be reused after the process dies; the handle pairs it with the process's
start time (/proc/<pid>/stat) and the boot id, so a restarted worker never mistakes another
process for a run's launcher.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import structlog

from nfhub_compute.backends.base import (
    ActiveJob,
    BackendUnavailable,
    JobState,
    JobStatus,
    LaunchSpec,
    LogChunk,
    LogSource,
    SubmitFailed,
    SubmittedJob,
)

logger = structlog.get_logger("nfhub.compute.local")

LAUNCHER = Path(__file__).with_name("launcher.py")
TRACE_FILE = "trace.txt"
TRACE_FIELDS = (
    "task_id,hash,native_id,process,tag,name,status,exit,submit,start,complete,duration,"
    "realtime,%cpu,peak_rss,peak_vmem,read_bytes,write_bytes,workdir,attempt,cpus,memory,"
    "container,hostname,error_action"
)
NFHUB_CONFIG = f"""// Written by nfhub for every run: a raw trace it reads when the run ends.
trace {{
    enabled = true
    file = '{TRACE_FILE}'
    overwrite = true
    raw = true
    fields = '{TRACE_FIELDS}'
}}
"""
# The launched pipeline runs users' code: it gets this environment, never the worker's own
# (database URL, service secrets).
PASSED_ENV = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "JAVA_HOME",
    "JAVA_CMD", "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    # Which CAs to trust (make run's dev CA bundle): the weblog URL may be HTTPS.
    "SSL_CERT_FILE", "SSL_CERT_DIR",
)  # fmt: skip
TRACE_BATCH_ROWS = 1000
# A weblog URL's secret, wherever a line shows one (a user's own -with-weblog in a log).
SECRET_IN_URL = re.compile(r"(?i)\b(token|secret|password|access_token)=[^&\s'\"]+")


def nfhub_config(weblog_url: str) -> str:
    """The run's own config: the trace nfhub reads at the end, and where the weblog goes.

    The weblog URL goes here rather than on the command line (-with-weblog): a command line
    is seen by every local user (ps) and is printed into Nextflow's log and its workflow
    metadata, which project viewers read.
    """
    quoted = weblog_url.replace("\\", "\\\\").replace("'", "\\'")
    return NFHUB_CONFIG + f"weblog {{\n    enabled = true\n    url = '{quoted}'\n}}\n"


def redact_secrets(line: str) -> str:
    return SECRET_IN_URL.sub(lambda match: f"{match.group(1)}=[redacted]", line)


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


def launch_environment(extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name in PASSED_ENV or name.startswith(("LC_", "NXF_"))
    }
    env.update(extra)
    env["NXF_ANSI_LOG"] = "false"
    return env


def nextflow_command(
    nextflow: str, spec: LaunchSpec, launch_dir: Path, work_dir: Path
) -> list[str]:
    """``nextflow run`` as ARCHITECTURE §4 has it."""
    command = [nextflow, "-log", str(launch_dir / ".nextflow.log"), "run", spec.source]
    if spec.revision:
        command += ["-r", spec.revision]
    command += [
        "-name", spec.nextflow_name,
        "-params-file", "params.json",
        "-work-dir", str(work_dir),
        "-c", "nfhub.config",
        "-ansi-log", "false",
    ]  # fmt: skip
    if spec.profiles:
        command += ["-profile", ",".join(spec.profiles)]
    if spec.resume_session_id:
        command += ["-resume", spec.resume_session_id]
    return command


def _write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # Created anew with its mode (a leftover of a crash would keep its own): a secret is never
    # readable by others, even for a moment.
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class LocalBackend:
    name = "local"
    host_independent = False

    def __init__(
        self,
        work_root: Path,
        *,
        nextflow_bin: str = "nextflow",
        env: Mapping[str, str] | None = None,
        host: str | None = None,
    ) -> None:
        self.root = work_root.expanduser().resolve()
        self.nextflow_bin = nextflow_bin
        self.env = launch_environment(env or {})
        # The worker's host identity (COMPUTE_WORKER_HOST): handles carry it, and a handle of
        # another host is not this backend's to answer for.
        self.host = host or socket.gethostname()
        self.boot_id = _boot_id()
        # Launchers this process started: reaped so they never linger as zombies.
        self._children: set[int] = set()

    def launch_dir(self, run_id: uuid.UUID) -> Path:
        return self.root / "runs" / str(run_id)

    # -- submit ------------------------------------------------------------------------------

    async def submit(self, spec: LaunchSpec) -> SubmittedJob:
        return await anyio.to_thread.run_sync(self._submit, spec)

    def _submit(self, spec: LaunchSpec) -> SubmittedJob:
        launch_dir = self.launch_dir(spec.run_id)
        work_dir = Path(spec.work_dir) if spec.work_dir else self.root / "work" / str(spec.run_id)
        try:
            launch_dir.mkdir(parents=True, exist_ok=True)
            lock = (launch_dir / ".submit.lock").open("a")
        except OSError as exc:
            raise BackendUnavailable(
                f"cannot create the launch directory {launch_dir}: {exc}"
            ) from exc
        with lock:
            # Held while submitting: a second submit of the same run waits, then finds job.json.
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = _read_json(launch_dir / "job.json")
            if existing is not None:
                return SubmittedJob(existing, str(launch_dir), existing.get("work_dir"))
            nextflow = shutil.which(self.nextflow_bin, path=self.env.get("PATH"))
            if nextflow is None:
                raise SubmitFailed(
                    f"The nextflow executable {self.nextflow_bin!r} is not on the worker's PATH; "
                    f"install Nextflow there or set COMPUTE_NEXTFLOW_BIN."
                )
            work_dir.mkdir(parents=True, exist_ok=True)
            _write_atomic(launch_dir / "params.json", json.dumps(spec.params, indent=2))
            _write_atomic(launch_dir / "nfhub.config", nfhub_config(spec.weblog_url), mode=0o600)
            if spec.resume_session_id and spec.resume_launch_dir:
                self._carry_cache(Path(spec.resume_launch_dir), launch_dir, spec.resume_session_id)
            command = nextflow_command(nextflow, spec, launch_dir, work_dir)
            pid = self._spawn(
                [sys.executable, "-I", "-S", str(LAUNCHER), "--cwd", str(launch_dir),
                 "--exit-file", str(launch_dir / "exit.json"), "--", *command],
                console=launch_dir / "console.log",
            )  # fmt: skip
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
            _write_atomic(launch_dir / "job.json", json.dumps(handle))
            logger.info("run launched", run_id=str(spec.run_id), pid=pid)
            return SubmittedJob(handle, str(launch_dir), str(work_dir))

    def _spawn(self, argv: list[str], *, console: Path) -> int:
        """Start the launcher detached: its own session (SIGTERM to the group reaches Nextflow),
        output to the console log, nothing tied to this process's lifetime."""
        pid = os.posix_spawn(
            argv[0],
            argv,
            self.env,
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

    @staticmethod
    def _carry_cache(previous: Path, launch_dir: Path, session_id: str) -> None:
        """-resume finds the session's task cache under the launch dir's .nextflow/."""
        cache = previous / ".nextflow" / "cache" / session_id
        if cache.is_dir():
            shutil.copytree(
                cache, launch_dir / ".nextflow" / "cache" / session_id, dirs_exist_ok=True
            )
        history = previous / ".nextflow" / "history"
        if history.is_file():
            shutil.copy2(history, launch_dir / ".nextflow" / "history")

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
        ended = _read_json(launch_dir / "exit.json")
        if ended is None and self._alive(handle):
            return JobStatus(JobState.RUNNING)
        ended = ended or _read_json(launch_dir / "exit.json")  # it may have just been written
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
        logger.info("run signalled", run_id=handle.get("run_id"), force=force)

    async def logs(
        self, handle: dict[str, Any], *, source: LogSource, offset: int, limit: int
    ) -> LogChunk:
        name = ".nextflow.log" if source == "nextflow" else "console.log"
        path = Path(handle["launch_dir"]) / name

        def read() -> LogChunk:
            chunk = LogChunk()
            try:
                with path.open("r", encoding="utf-8", errors="replace") as lines:
                    for number, line in enumerate(lines):
                        if offset <= number < offset + limit:
                            chunk.lines.append(redact_secrets(line.rstrip("\n")))
                        chunk.count = number + 1
            except FileNotFoundError:
                pass
            return chunk

        return await anyio.to_thread.run_sync(read)

    async def trace(self, handle: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
        path = Path(handle["launch_dir"]) / TRACE_FILE
        try:
            stream = await anyio.to_thread.run_sync(
                lambda: path.open("r", encoding="utf-8", newline="")
            )
        except FileNotFoundError:
            return
        try:
            reader = csv.DictReader(stream, delimiter="\t")

            def batch() -> list[dict[str, str]]:
                rows = []
                for row in reader:
                    rows.append(dict(row))
                    if len(rows) >= TRACE_BATCH_ROWS:
                        break
                return rows

            while rows := await anyio.to_thread.run_sync(batch):
                for row in rows:
                    yield row
        finally:
            stream.close()

    async def list_active(self) -> list[ActiveJob]:
        def scan() -> list[ActiveJob]:
            found = []
            for job_file in (self.root / "runs").glob("*/job.json"):
                handle = _read_json(job_file)
                if handle is None or handle.get("host") != self.host:
                    continue
                if (job_file.parent / "exit.json").exists() or not self._alive(handle):
                    continue
                with contextlib.suppress(ValueError, KeyError):
                    found.append(ActiveJob(uuid.UUID(str(handle["run_id"])), handle))
            return found

        return await anyio.to_thread.run_sync(scan)

    async def close(self) -> None:
        # Launchers outlive the worker on purpose; reap only those that have already ended.
        for pid in list(self._children):
            self._reap(pid)
