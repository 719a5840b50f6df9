from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import Field

from nfhub_shared.schemas import ReadSchema

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
