"""A run's launch directory, as every backend that runs the head job from a folder lays it out.

    params.json         the parameters (-params-file)
    nfhub.config        report, trace and weblog settings (-c, mode 0600): the weblog URL
                        carries the run's secret, so it is in no command line and no log
    nfhub.env           on the Tower channel, Nextflow's TOWER_ACCESS_TOKEN and
                        TOWER_WORKFLOW_ID (mode 0600): the launcher puts them in Nextflow's
                        environment and removes the file
    job.json            the backend's handle
    exit.json           written by the launcher wrapper (launcher.py) when Nextflow exits
    console.log         Nextflow's stdout and stderr
    .nextflow.log       Nextflow's own log
    trace.txt           Nextflow's trace (raw values)
    .nextflow/cache/    the session cache -resume needs

Nextflow's execution report, timeline and DAG are not here: nfhub.config has Nextflow write
them into the run's output folder (REPORTS_FOLDER), in the project's storage like every other
output, so the API lists and serves them (GET /runs/{id}/reports) from any backend.

The local backend starts the launcher as a process on this machine, the Slurm backend as the
batch script of a job; both read the same files back.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from nfhub_compute.backends import secrets_store
from nfhub_compute.backends.base import (
    BackendUnavailable,
    LaunchSpec,
    LogRead,
    LogSource,
    SubmitFailed,
    TaskFileGone,
    TaskFileRead,
)

LAUNCHER = Path(__file__).with_name("launcher.py")
TRACE_FILE = "trace.txt"
TRACE_FIELDS = (
    "task_id,hash,native_id,process,tag,name,status,exit,submit,start,complete,duration,"
    "realtime,%cpu,peak_rss,peak_vmem,read_bytes,write_bytes,workdir,attempt,cpus,memory,time,"
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
# Where Nextflow writes its reports, in the run's output folder (params.outdir), and as what;
# nf-core pipelines write theirs to the same folder.
REPORTS_FOLDER = "pipeline_info"
REPORT_FILES = {
    "report": "execution_report.html",
    "timeline": "execution_timeline.html",
    "dag": "pipeline_dag.html",
}
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
SECRET_WORDS = ("token", "secret", "password")


ENV_FILE = "nfhub.env"


def _groovy(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def reports_config(outdir: str) -> str:
    """Nextflow's execution report, timeline and DAG, written into the run's output folder
    (a path or a storage URI, as params.outdir)."""
    folder = outdir.rstrip("/") + "/" + REPORTS_FOLDER
    return "".join(
        f"{scope} {{\n    enabled = true\n    file = {_groovy(folder + '/' + name)}\n"
        f"    overwrite = true\n}}\n"
        for scope, name in REPORT_FILES.items()
    )


def nfhub_config(
    weblog_url: str | None, extra: str | None = None, outdir: str | None = None
) -> str:
    """The run's own config: the reports nfhub serves, the compute environment's config, then
    the trace nfhub reads at the end and where the weblog goes (last, so the environment's
    text cannot change them).

    Precedence of the report, timeline and DAG settings: Nextflow merges the -c files after
    the pipeline's own nextflow.config, so nfhub's replace the pipeline's (nf-core's
    pipeline_info/execution_report_<time>.html becomes pipeline_info/execution_report.html);
    the compute environment's config comes after them and wins (it may turn them off or name
    other files; GET /runs/{id}/reports lists what is in REPORTS_FOLDER).

    The weblog URL goes here rather than on the command line (-with-weblog): a command line
    is seen by every local user (ps) and is printed into Nextflow's log and its workflow
    metadata, which project viewers read.
    """
    reports = reports_config(outdir) + "\n" if outdir else ""
    environment = f"// From the run's compute environment.\n{extra.rstrip()}\n\n" if extra else ""
    head = reports + environment + NFHUB_CONFIG
    if weblog_url is None:  # the Tower channel: -with-tower on the command line
        return head + "weblog {\n    enabled = false\n}\n"
    quoted = weblog_url.replace("\\", "\\\\").replace("'", "\\'")
    return head + f"weblog {{\n    enabled = true\n    url = '{quoted}'\n}}\n"


def writable_folder_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot hold runs' folders (for this process), or None when it can."""
    if not path.is_absolute():
        return f"The {what} {path} is not an absolute path."
    if not path.is_dir():
        return f"The {what} {path} does not exist (or is not a folder); create it on the worker."
    try:  # a real file, not os.access: root passes that on a read-only filesystem
        descriptor, probe = tempfile.mkstemp(prefix=".nfhub-probe-", dir=path)
        os.close(descriptor)
        os.unlink(probe)
    except OSError as exc:
        return (
            f"The {what} {path} is not writable by the worker's user ({exc.strerror}); "
            f"fix its permissions."
        )
    return None


def redact_secrets(line: str) -> str:
    # The pattern is slow on long text; most text names none of its words (casefold: as the
    # pattern's IGNORECASE matches).
    folded = line.casefold()
    if not any(word in folded for word in SECRET_WORDS):
        return line
    return SECRET_IN_URL.sub(lambda match: f"{match.group(1)}=[redacted]", line)


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
    if spec.tower is not None:  # the endpoint is no secret; the token is in nfhub.env
        command += ["-with-tower", spec.tower.endpoint]
    return command


# The compute environment's scripts, written by prepare(): launcher option, file name.
SCRIPTS = (("--pre", "pre_run.sh"), ("--post", "post_run.sh"))


def _scripts(spec: LaunchSpec) -> tuple[tuple[str, str, str | None], ...]:
    texts = (spec.pre_run_script, spec.post_run_script)
    return tuple((option, name, text) for (option, name), text in zip(SCRIPTS, texts, strict=True))


def launcher_command(launch_dir: Path, command: list[str], spec: LaunchSpec) -> list[str]:
    """The wrapper that runs ``command`` in the launch dir (between the environment's pre- and
    post-run scripts), removes the secrets store and writes exit.json when it ends."""
    scripts = [
        part
        for option, name, text in _scripts(spec)
        if text
        for part in (option, str(launch_dir / name))
    ]
    if spec.tower is not None:
        scripts += ["--env-file", str(launch_dir / ENV_FILE)]
    return [
        sys.executable, "-I", "-S", str(LAUNCHER), "--cwd", str(launch_dir),
        "--exit-file", str(launch_dir / "exit.json"),
        "--secrets-dir", str(secrets_store.secrets_dir(launch_dir)), *scripts, "--", *command,
    ]  # fmt: skip


def find_nextflow(nextflow_bin: str, env: Mapping[str, str]) -> str:
    nextflow = shutil.which(nextflow_bin, path=env.get("PATH"))
    if nextflow is None:
        raise SubmitFailed(
            f"The nextflow executable {nextflow_bin!r} is not on the worker's PATH; "
            f"install Nextflow there or set COMPUTE_NEXTFLOW_BIN."
        )
    return nextflow


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    # Created anew with its mode (a leftover of a crash would keep its own): a secret is never
    # readable by others, even for a moment.
    tmp.unlink(missing_ok=True)
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def submit_lock(launch_dir: Path) -> Iterator[None]:
    """Held while submitting: a second submit of the same run waits, then finds job.json."""
    try:
        launch_dir.mkdir(parents=True, exist_ok=True)
        lock = (launch_dir / ".submit.lock").open("a")
    except OSError as exc:
        raise BackendUnavailable(f"cannot create the launch directory {launch_dir}: {exc}") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def prepare(spec: LaunchSpec, launch_dir: Path, work_dir: Path) -> None:
    """The files Nextflow reads: the work dir, params.json, the 0600 nfhub.config, the run's
    secrets store, the environment's scripts, the cache."""
    work_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(launch_dir / "params.json", json.dumps(spec.params, indent=2))
    outdir = spec.params.get("outdir")
    config = nfhub_config(
        None if spec.tower else spec.weblog_url,
        spec.extra_config,
        outdir if isinstance(outdir, str) and outdir else None,
    )
    write_atomic(launch_dir / "nfhub.config", config, mode=0o600)
    if spec.tower is not None:
        write_atomic(launch_dir / ENV_FILE, json.dumps(spec.tower.environment()), mode=0o600)
    secrets_store.write_store(launch_dir, spec.secrets)
    for _, name, text in _scripts(spec):
        if text:
            write_atomic(launch_dir / name, text, mode=0o700)
    if spec.resume_session_id and spec.resume_launch_dir:
        _carry_cache(Path(spec.resume_launch_dir), launch_dir, spec.resume_session_id)


def _carry_cache(previous: Path, launch_dir: Path, session_id: str) -> None:
    """-resume finds the session's task cache under the launch dir's .nextflow/."""
    cache = previous / ".nextflow" / "cache" / session_id
    if cache.is_dir():
        shutil.copytree(cache, launch_dir / ".nextflow" / "cache" / session_id, dirs_exist_ok=True)
    history = previous / ".nextflow" / "history"
    if history.is_file():
        shutil.copy2(history, launch_dir / ".nextflow" / "history")


class LaunchDirReader:
    """The JobBackend protocol's ``logs``, ``trace`` and ``task_file``, read from the handle's
    launch dir and the run's work dir (this machine's, or a filesystem shared with it)."""

    async def logs(
        self,
        handle: dict[str, Any],
        *,
        source: LogSource,
        start: int,
        limit: int,
        final: bool = False,
        skip_lines: int = 0,
    ) -> LogRead:
        return await read_log(
            Path(handle["launch_dir"]),
            source=source,
            start=start,
            limit=limit,
            final=final,
            skip_lines=skip_lines,
        )

    async def trace(self, handle: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
        async for row in read_trace(Path(handle["launch_dir"])):
            yield row

    async def task_file(
        self, handle: dict[str, Any], path: str, allowed_roots: list[str], *, max_bytes: int
    ) -> TaskFileRead:
        return await anyio.to_thread.run_sync(read_task_file, path, allowed_roots, max_bytes)


def _clean(line: str) -> str:
    # PostgreSQL text holds no NUL; a binary byte in a log must not stop its shipping.
    return redact_secrets(line).replace("\x00", "\ufffd")


async def read_log(
    launch_dir: Path,
    *,
    source: LogSource,
    start: int,
    limit: int,
    final: bool = False,
    skip_lines: int = 0,
) -> LogRead:
    """Whole lines from byte ``start`` on: only what was written since the last read is read
    (a log shipped in many passes is read once in all)."""
    path = launch_dir / (".nextflow.log" if source == "nextflow" else "console.log")

    def read() -> LogRead:
        try:
            stream = path.open("rb")
        except FileNotFoundError:
            return LogRead(end=start)
        with stream:
            stream.seek(start)
            offset = start
            for _ in range(skip_lines):  # logs shipped before offsets were kept
                line = stream.readline()
                if not line.endswith(b"\n"):
                    return LogRead(end=offset, at_end=True)
                offset += len(line)
            return _read_lines(stream, offset, limit, final)

    return await anyio.to_thread.run_sync(read)


# A log is read in blocks this large (a longer line is read whole).
READ_BLOCK_BYTES = 64 * 1024


def _decoded(raw: list[bytes]) -> list[str]:
    """Lines of a log, decoded and redacted in one go (no secret spans a newline)."""
    return _clean(b"\n".join(raw).decode("utf-8", errors="replace")).split("\n")


def _read_lines(stream: BinaryIO, offset: int, limit: int, final: bool) -> LogRead:
    """Up to ``limit`` whole lines from ``offset`` (where ``stream`` is)."""
    lines: list[str] = []
    while len(lines) < limit:
        block = stream.read(READ_BLOCK_BYTES)
        if not block:
            return LogRead(lines, offset, at_end=True)
        parts = block.split(b"\n")
        partial = parts.pop()  # after the block's last newline: b"" or a line being written
        if not parts:  # one line longer than a block: read it whole
            whole = block + stream.readline()
            if not whole.endswith(b"\n") and not final:
                return LogRead(lines, offset, at_end=True)
            lines.extend(_decoded([whole.removesuffix(b"\n")]))
            offset += len(whole)
            continue
        taken = parts[: limit - len(lines)]
        lines.extend(_decoded(taken))
        offset += sum(len(part) for part in taken) + len(taken)
        if len(taken) < len(parts) or (partial and len(block) == READ_BLOCK_BYTES):
            stream.seek(offset)  # more whole lines than asked, or the block cut a line
            if len(lines) >= limit:
                return LogRead(lines, offset, at_end=not stream.read(1))
            continue
        if len(block) < READ_BLOCK_BYTES:  # the end of the file
            if partial and final and len(lines) < limit:
                lines.extend(_decoded([partial]))
                offset += len(partial)
                return LogRead(lines, offset, at_end=True)
            return LogRead(lines, offset, at_end=not partial or not final)
        stream.seek(offset)
    return LogRead(lines, offset, at_end=not stream.read(1))


def _inside(folder: Path, roots: list[str]) -> bool:
    for root in roots:
        try:
            if folder.is_relative_to(Path(root).resolve()):
                return True
        except OSError:
            continue
    return False


def read_task_file(path: str, allowed_roots: list[str], max_bytes: int) -> TaskFileRead:
    """A task's ``.command.*`` file, at most ``max_bytes`` of it: a longer one keeps its head
    and its tail (an error is usually at the end) around a line saying what was cut.

    Only a file in a folder inside one of ``allowed_roots`` (the run's work dirs) is read, and
    never through a symlink: the task's work dir comes from what the pipeline reported.
    """
    target = Path(path)
    if not target.is_absolute() or not allowed_roots:
        raise TaskFileGone(f"{path} is not inside the run's work directory.")
    folder = target.parent.resolve()
    if not folder.is_dir():
        raise TaskFileGone(f"The task's work dir {target.parent} is gone.")
    if not _inside(folder, allowed_roots):
        raise TaskFileGone(f"{target.parent} is not inside the run's work directory.")
    try:
        descriptor = os.open(folder / target.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return TaskFileRead("", 0, truncated=False)  # not written (yet): the task never ran
    except OSError as exc:
        raise TaskFileGone(f"{path} cannot be read ({exc.strerror}).") from exc
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise TaskFileGone(f"{path} is not a regular file.")
        size = os.fstat(descriptor).st_size
        if size <= max_bytes:
            data = stream.read(max_bytes)
            text = data.decode("utf-8", errors="replace")
            return TaskFileRead(_clean(text), len(data), truncated=False)
        half = max_bytes // 2
        head = stream.read(half)
        stream.seek(size - half)
        tail = stream.read(half)
    # Cut at line ends, so no line is half shown (a line longer than half the bound is cut).
    head = head[: head.rfind(b"\n") + 1] or head
    newline = tail.find(b"\n")
    tail = tail[newline + 1 :] if 0 <= newline < len(tail) - 1 else tail
    cut = size - len(head) - len(tail)
    marker = (
        f"[nfhub] {cut} bytes cut here: the file has {size} bytes and at most "
        f"COMPUTE_TASK_LOG_MAX_BYTES ({max_bytes}) are kept, its head and its tail; "
        f"the whole file is {path}.\n"
    )
    text = (
        head.decode("utf-8", errors="replace")
        + ("" if head.endswith(b"\n") else "\n")
        + marker
        + tail.decode("utf-8", errors="replace")
    )
    return TaskFileRead(_clean(text), size, truncated=True)


async def read_trace(launch_dir: Path) -> AsyncIterator[dict[str, str]]:
    path = launch_dir / TRACE_FILE
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
