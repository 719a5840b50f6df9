from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from nfhub_compute.runs.schemas import TaskCounts
from nfhub_compute.runs.states import RunState
from nfhub_shared.schemas import ReadSchema

TaskStatus = Literal["NEW", "SUBMITTED", "RUNNING", "CACHED", "COMPLETED", "ABORTED", "FAILED"]
TaskSort = Literal[
    "task_id", "submit", "start", "complete", "duration", "realtime", "peak_rss", "cpu", "name"
]


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


class ProcessProgress(TaskCounts):
    process: str


class RunProgress(ReadSchema):
    run_id: uuid.UUID
    state: RunState
    totals: TaskCounts
    processes: list[ProcessProgress]
    workflow_stats: dict[str, Any] | None = Field(
        default=None, description="Nextflow's own totals from its completed event"
    )
