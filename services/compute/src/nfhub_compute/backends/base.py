"""The job backend interface: how a run's ``nextflow run`` is started, watched and stopped.

A backend runs the Nextflow *launcher* (the head job); Nextflow itself then submits tasks to
whatever executor its config names. Every method is safe to call again: ``submit`` twice for
the same run returns the first job, ``cancel`` of a finished job does nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

LogSource = Literal["nextflow", "console"]


class BackendUnavailable(Exception):
    """The backend cannot answer now (scheduler down, shared folder unmounted): ask later."""


class SubmitFailed(Exception):
    """The run cannot be started, and trying again will not help; the message says why."""


@dataclass(frozen=True)
class TowerReport:
    """A run that reports over the Tower channel: ``-with-tower endpoint``, and in Nextflow's
    environment TOWER_WORKFLOW_ID (its create attaches to the run nfhub made) and
    TOWER_ACCESS_TOKEN (the run's own token, good for this run only)."""

    endpoint: str
    workflow_id: str
    access_token: str = field(repr=False)

    def environment(self) -> dict[str, str]:
        return {"TOWER_ACCESS_TOKEN": self.access_token, "TOWER_WORKFLOW_ID": self.workflow_id}


@dataclass(frozen=True)
class LaunchSpec:
    """Everything a backend needs to start one run."""

    run_id: uuid.UUID
    nextflow_name: str
    source: str  # a git URL or a folder on the compute host
    revision: str | None
    params: dict[str, Any]
    profiles: list[str]
    weblog_url: str
    work_dir: str | None = None  # set when resuming: the earlier run's work directory
    resume_session_id: str | None = None
    resume_launch_dir: str | None = None  # where the earlier run's .nextflow cache is
    # The run's pipeline secrets, name → value, decrypted by the worker for this launch only:
    # never in a repr (a log line or traceback showing the spec).
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    # From the run's compute environment: Nextflow config placed in the run's own config file
    # (before nfhub's trace and weblog settings, which win), and shell scripts the launcher
    # runs in the launch dir before and after Nextflow.
    extra_config: str | None = None
    pre_run_script: str | None = None
    post_run_script: str | None = None
    # Set when the run reports over the Tower channel instead of the weblog.
    tower: TowerReport | None = None


@dataclass(frozen=True)
class SubmittedJob:
    handle: dict[str, Any]  # JSON-safe; given back to status/cancel/logs
    launch_dir: str | None
    work_dir: str | None


class JobState(StrEnum):
    PENDING = "PENDING"  # accepted, not started (a scheduler queue)
    RUNNING = "RUNNING"
    EXITED = "EXITED"  # finished with an exit code
    LOST = "LOST"  # gone without an exit code (killed, machine restarted)


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    exit_code: int | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ActiveJob:
    run_id: uuid.UUID
    handle: dict[str, Any]


@dataclass
class LogChunk:
    lines: list[str] = field(default_factory=list)
    count: int = 0


@dataclass(frozen=True)
class LogRead:
    """Whole lines of a log read from a byte offset, redacted: ``end`` is the offset after
    the last of them (where the next read starts), ``at_end`` whether the file ends there."""

    lines: list[str] = field(default_factory=list)
    end: int = 0
    at_end: bool = True


class TaskFileGone(Exception):
    """A task's file cannot be read: its work dir was removed (or is not the run's)."""


@dataclass(frozen=True)
class TaskFileRead:
    """One file of a task's work dir, as shipped: at most a bound, redacted.

    ``size`` is the file's size on disk; ``truncated`` says the middle was cut (the text then
    holds the head, a marker line, and the tail)."""

    text: str
    size: int
    truncated: bool


class JobBackend(Protocol):
    name: str
    # False: a job is reachable from the host that started it only (the local backend's
    # process groups and files), so the run belongs to that host's worker. True: any worker
    # can watch and stop it (a scheduler such as Slurm, with the launch dir on shared storage).
    host_independent: bool

    async def submit(self, spec: LaunchSpec) -> SubmittedJob: ...

    async def status(self, handle: dict[str, Any]) -> JobStatus: ...

    async def cancel(self, handle: dict[str, Any], *, force: bool) -> None:
        """Ask the launcher to stop (SIGTERM: Nextflow cleans up); ``force`` kills it."""

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
        """Up to ``limit`` whole lines from byte ``start`` (after skipping ``skip_lines``);
        a last line without its newline only when ``final`` (Nextflow may be writing it)."""
        ...

    async def task_file(
        self, handle: dict[str, Any], path: str, allowed_roots: list[str], *, max_bytes: int
    ) -> TaskFileRead:
        """A task's file (``path``, inside one of ``allowed_roots``), cut to ``max_bytes``;
        TaskFileGone when it is not there."""
        ...

    def trace(self, handle: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
        """The rows of the run's trace file (Nextflow's own record of every task)."""
        ...

    async def list_active(self) -> list[ActiveJob]: ...

    async def check(self) -> list[str]:
        """What stops this backend from running a run (folders, executables, the scheduler),
        each a sentence saying how to fix it; empty when it can run one."""
        ...

    async def close(self) -> None: ...
