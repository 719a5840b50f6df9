from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from nfhub_shared.schemas import ReadSchema

TaskFileName = Literal["stdout", "stderr", "log", "script"]
TaskFilesState = Literal["none", "pending", "shipped", "gone"]
TaskStatus = Literal["NEW", "SUBMITTED", "RUNNING", "CACHED", "COMPLETED", "ABORTED", "FAILED"]
TaskSort = Literal[
    "task_id", "submit", "start", "complete", "duration", "realtime", "peak_rss", "cpu", "name"
]


@dataclass(frozen=True)
class TaskFilter:
    """Which of a run's tasks to list, and in what order."""

    statuses: Sequence[str] | None = None
    process: str | None = None
    sort: TaskSort = "task_id"
    descending: bool = False


class TaskRead(ReadSchema):
    task_id: int
    status: TaskStatus
    hash: str | None = None
    name: str | None = None
    process: str
    tag: str | None = None
    native_id: str | None = None
    exit_status: int | None = None
    attempt: int | None = None
    error_action: str | None = None
    workdir: str | None = None
    container: str | None = None
    hostname: str | None = None
    cpus: int | None = None
    memory: int | None = Field(default=None, description="Bytes requested")
    time_ms: int | None = Field(default=None, description="Time requested (the time directive)")
    submit_at: datetime | None = None
    start_at: datetime | None = None
    complete_at: datetime | None = None
    duration_ms: int | None = None
    realtime_ms: int | None = None
    cpu_percent: float | None = None
    peak_rss: int | None = Field(default=None, description="Bytes")
    peak_vmem: int | None = Field(default=None, description="Bytes")
    read_bytes: int | None = None
    write_bytes: int | None = None
    updated_at: datetime


class TaskCounts(ReadSchema):
    submitted: int = Field(description="Submitted to the executor, not started yet")
    running: int
    succeeded: int
    failed: int
    cached: int
    aborted: int
    total: int


class ProcessProgress(TaskCounts):
    process: str


class TaskRequested(ReadSchema):
    cpus: int | None = None
    memory: int | None = Field(default=None, description="Bytes")
    time_ms: int | None = Field(default=None, description="The time limit, milliseconds")
    disk: int | None = Field(default=None, description="Bytes")
    queue: str | None = None


class TaskUsed(ReadSchema):
    realtime_ms: int | None = None
    cpu_percent: float | None = Field(default=None, description="100 is one CPU busy")
    peak_rss: int | None = Field(default=None, description="Bytes")
    peak_vmem: int | None = Field(default=None, description="Bytes")
    read_bytes: int | None = None
    write_bytes: int | None = None
    memory_percent: float | None = Field(
        default=None, description="Peak RSS against the memory requested, in percent"
    )
    cpu_percent_of_requested: float | None = Field(
        default=None, description="CPU use against the CPUs requested, in percent"
    )


class TaskFileInfo(ReadSchema):
    file: TaskFileName
    size: int = Field(description="The file's size in the work dir, bytes")
    truncated: bool = Field(description="Longer than the bound: its middle was cut")
    shipped_at: datetime


class TaskDetail(TaskRead):
    script: str | None = Field(default=None, description="The task's script, as Nextflow ran it")
    requested: TaskRequested
    used: TaskUsed
    files_state: TaskFilesState = Field(
        description="Whether its files (GET .../logs) were shipped from the work dir: none "
        "(not asked yet), pending (a worker is reading them), shipped, gone (the work dir "
        "could not be read)"
    )
    files_detail: str | None = Field(default=None, description="Why they are gone")
    files: list[TaskFileInfo] = Field(description="The files shipped")


class TaskFilesPending(ReadSchema):
    state: Literal["pending"] = "pending"
    detail: str
    requested_at: datetime
    retry_after_seconds: int


@dataclass(frozen=True)
class TaskFileText:
    """A part of a shipped task file."""

    text: str
    offset: int
    length: int  # characters held
    size: int  # bytes in the work dir
    truncated: bool
    shipped_at: datetime


class MetricSummary(ReadSchema):
    """One series of a process's tasks, quartiles as PostgreSQL's percentile_cont (and
    Nextflow's report) compute them: linear between the two nearest ranks."""

    count: int | None = Field(
        default=None, description="Tasks with a value (null when Tower's summary gave none)"
    )
    mean: float
    min: float
    q1: float
    median: float
    q3: float
    max: float


class ProcessMetrics(ReadSchema):
    process: str
    tasks: int | None = Field(
        default=None, description="Tasks counted (null when the summary is Tower's)"
    )
    cpu_percent: MetricSummary | None = Field(
        default=None, description="%cpu (100 = one CPU busy all the time)"
    )
    peak_rss: MetricSummary | None = Field(default=None, description="Peak resident memory, bytes")
    realtime_ms: MetricSummary | None = Field(default=None, description="Run time, milliseconds")
    read_bytes: MetricSummary | None = Field(
        default=None, description="Bytes read (Tower's summary: rchar, all reads)"
    )
    write_bytes: MetricSummary | None = Field(
        default=None, description="Bytes written (Tower's summary: wchar, all writes)"
    )
    cpu_usage: MetricSummary | None = Field(
        default=None, description="%cpu / cpus requested: percent of the CPUs asked for"
    )
    memory_usage: MetricSummary | None = Field(
        default=None, description="peak_rss / memory requested, percent"
    )
    time_usage: MetricSummary | None = Field(
        default=None, description="realtime / time requested, percent"
    )


@dataclass(frozen=True)
class ComputedMetrics:
    """A run's per-process summaries and when they were computed from its task rows."""

    processes: list[ProcessMetrics]
    computed_at: datetime
