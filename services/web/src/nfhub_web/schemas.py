"""What web reads from the APIs: the fields its pages show, unknown fields ignored (an API
may grow a field without breaking a page)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

TERMINAL_RUN_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})


class ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Page(ApiModel, Generic[T]):
    items: list[T]
    count: int
    limit: int
    offset: int


class TokenPair(ApiModel):
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int


class LoginProvider(ApiModel):
    name: str
    display_name: str
    kind: str


class LoginProviders(ApiModel):
    providers: list[LoginProvider]


class Me(ApiModel):
    id: uuid.UUID
    username: str
    display_name: str | None = None


class DefaultContext(ApiModel):
    org_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None


class Org(ApiModel):
    id: uuid.UUID
    slug: str
    name: str
    role: str


class Project(ApiModel):
    id: uuid.UUID
    org_id: uuid.UUID
    slug: str
    name: str
    role: str


class ProjectMember(ApiModel):
    """A member of a project or of an org (admin answers both alike)."""

    user_id: uuid.UUID
    username: str
    display_name: str | None = None
    role: str
    created_at: datetime


class TokenRead(ApiModel):
    id: uuid.UUID
    name: str
    token_hint: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenRead):
    token: str


class TaskCounts(ApiModel):
    submitted: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    cached: int = 0
    aborted: int = 0
    total: int = 0

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.cached + self.aborted

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


class RunPipeline(ApiModel):
    slug: str
    version: str


class RunInput(ApiModel):
    path: str | None = None
    order_id: uuid.UUID | None = None


class RunRead(ApiModel):
    id: uuid.UUID
    name: str
    state: str
    state_reason: str | None = None
    pipeline: RunPipeline | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    input: RunInput = Field(default_factory=RunInput)
    profiles: list[str] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    outdir: str = ""
    resume: bool = False
    backend: str = ""
    exit_code: int | None = None
    error_message: str | None = None
    created_by: str = ""
    created_at: datetime
    running_at: datetime | None = None
    finished_at: datetime | None = None
    tasks: TaskCounts | None = None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL_RUN_STATES

    @property
    def cancellable(self) -> bool:
        return self.state in {"QUEUED", "INITIALIZING", "RUNNING", "UNKNOWN"}


class ProcessProgress(TaskCounts):
    process: str


class RunProgress(ApiModel):
    state: str
    totals: TaskCounts
    processes: list[ProcessProgress]


class TaskRead(ApiModel):
    task_id: int
    status: str
    name: str | None = None
    process: str
    tag: str | None = None
    exit_status: int | None = None
    attempt: int | None = None
    submit_at: datetime | None = None
    start_at: datetime | None = None
    complete_at: datetime | None = None
    duration_ms: int | None = None
    realtime_ms: int | None = None


class PipelineVersion(ApiModel):
    version: str
    deprecated: bool = False
    has_params_schema: bool = False


class Pipeline(ApiModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None = None
    version: PipelineVersion | None = None


class ComputeEnv(ApiModel):
    id: uuid.UUID
    name: str
    backend: str
    is_primary: bool = False


class FileEntry(ApiModel):
    path: str
    name: str
    kind: str
    size: int | None = None


class OrderSummary(ApiModel):
    id: uuid.UUID
    display_id: str
    status: str
    sample_count: int = 0
    # Where miner wrote the order's samplesheet for its runs (from ``analyzing`` on).
    samplesheet_path: str | None = None


class LogPage(ApiModel):
    source: str
    lines: list[str]
    count: int
    offset: int


class OutputEntry(ApiModel):
    path: str
    name: str
    kind: str
    size: int | None = None
    modified: datetime | None = None
    download_url: str | None = None
