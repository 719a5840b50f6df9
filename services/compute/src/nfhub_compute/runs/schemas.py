from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from nfhub_compute.pipelines.schemas import SLUG_PATTERN, VERSION_PATTERN, Profile
from nfhub_compute.runs.states import RunState
from nfhub_compute.secrets.schemas import SecretName
from nfhub_compute.tasks.schemas import ProcessMetrics, ProcessProgress, TaskCounts
from nfhub_shared.schemas import ReadSchema, Schema

LABEL_PATTERN = r"^[A-Za-z0-9_.:=/-]{1,100}$"
Label = Annotated[str, Field(pattern=LABEL_PATTERN)]
MAX_PATH_CHARS = 4096
MAX_RUN_SECRETS = 50


class RunInput(Schema):
    """The samplesheet: a file in the project's storage, and the order it was made for."""

    # What _something checks, in the document: a path, an order, or both, not neither.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["path"], "properties": {"path": {"type": "string"}}},
                {"required": ["order_id"], "properties": {"order_id": {"type": "string"}}},
            ]
        }
    )

    path: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PATH_CHARS,
        description="Samplesheet path inside the project (as the files service names it)",
        examples=["samplesheets/rnaseq.csv"],
    )
    order_id: uuid.UUID | None = Field(
        default=None, description="The miner order this run analyses (for /runs/by-order)"
    )

    @model_validator(mode="after")
    def _something(self) -> RunInput:
        if self.path is None and self.order_id is None:
            raise ValueError(
                "give input.path (a samplesheet in the project), with order_id too "
                "when the run is for an order"
            )
        return self


class RunCreate(Schema):
    pipeline: str = Field(pattern=SLUG_PATTERN, description="Pipeline slug")
    version: str | None = Field(
        default=None, pattern=VERSION_PATTERN, description="Default: the latest version"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Pipeline parameters, checked against its schema"
    )
    input: RunInput | None = None
    profiles: list[Profile] | None = Field(
        default=None, max_length=20, description="Default: the version's profiles"
    )
    labels: list[Label] = Field(default_factory=list, max_length=20)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    secrets: list[SecretName] = Field(
        default_factory=list,
        max_length=MAX_RUN_SECRETS,
        description="Names of the project's or org's secrets the pipeline reads as "
        "secrets.NAME (the project's wins); values are handed to Nextflow only",
    )
    compute_env_id: uuid.UUID | None = Field(
        default=None,
        description="Where the run goes; default the org's primary compute environment (none "
        "in the org: the worker's own backend)",
    )


class RunRelaunch(Schema):
    resume: bool = Field(
        default=False,
        description="Reuse the run's session and work directory (-resume): finished tasks are "
        "cached, not run again",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters to change; a null value removes one",
    )
    profiles: list[Profile] | None = Field(default=None, max_length=20)
    labels: list[Label] | None = Field(default=None, max_length=20)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    secrets: list[SecretName] | None = Field(
        default=None, max_length=MAX_RUN_SECRETS, description="Default: the run's secrets"
    )


@dataclass(frozen=True)
class RunFilter:
    """Which of a project's runs to list (all of them by default)."""

    states: Sequence[str] | None = None
    pipeline_slug: str | None = None
    label: str | None = None
    order_id: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class RunPipelineRead(ReadSchema):
    id: uuid.UUID
    slug: str
    version_id: uuid.UUID
    version: str


class RunInputRead(ReadSchema):
    path: str | None = None
    order_id: uuid.UUID | None = None


class RunError(ReadSchema):
    message: str | None = Field(
        default=None, description="Nextflow's error message (else why nfhub ended the run)"
    )
    process: str | None = Field(default=None, description="The failing task's process")
    task_id: int | None = Field(default=None, description="The failing task (Nextflow's id)")
    task_name: str | None = None
    attempt: int | None = None
    exit_code: int | None = Field(
        default=None,
        description="The failing task's exit status; without a failing task, Nextflow's own",
    )
    exit_code_of: Literal["task", "nextflow"] | None = None
    exit_meaning: str | None = Field(
        default=None, description="What that exit status usually means"
    )
    work_dir: str | None = Field(default=None, description="The failing task's work dir")
    stderr_tail: list[str] = Field(
        default_factory=list,
        description="The last lines of the failing task's stderr (.command.err), as shipped",
    )
    logs_url: str | None = Field(
        default=None, description="Where the failing task's files are read (relative path)"
    )


# Read from a Run: its columns, and the properties it has for this view (no docstring: it
# would become the schema's description in OpenAPI).
class RunRead(ReadSchema):
    id: uuid.UUID
    name: str
    state: RunState
    state_reason: str | None = Field(default=None, description="Why the run is in this state")
    pipeline: RunPipelineRead | None = Field(
        description="The pipeline version launched (null for an external run)"
    )
    params: dict[str, Any] = Field(description="The parameters given (defaults not repeated)")
    resolved_params: dict[str, Any] | None = Field(
        default=None,
        description="The parameters as Nextflow resolved them (config defaults included), "
        "from its started event",
    )
    input: RunInputRead
    profiles: list[str]
    labels: list[str]
    secrets: list[str] = Field(description="Names of the secrets the run is given (no values)")
    outdir: str = Field(description="Where outputs go, inside the project's storage")
    resume: bool
    relaunched_from_id: uuid.UUID | None = None
    nextflow_run_name: str
    session_id: str | None = None
    backend: str
    compute_env_id: uuid.UUID | None = Field(
        default=None, description="The compute environment it was launched in"
    )
    exit_code: int | None = None
    workflow_success: bool | None = None
    error_message: str | None = None
    nextflow_version: str | None = None
    commit_id: str | None = None
    created_by: str
    created_at: datetime
    initializing_at: datetime | None = None
    submitted_at: datetime | None = None
    running_at: datetime | None = None
    workflow_started_at: datetime | None = None
    workflow_completed_at: datetime | None = None
    canceling_at: datetime | None = None
    unknown_at: datetime | None = None
    finished_at: datetime | None = None
    last_event_at: datetime | None = None
    updated_at: datetime
    tasks: TaskCounts | None = Field(
        default=None, description="Task counts (null in the answer to a launch, cancel or relaunch)"
    )
    source: Literal["launched", "external"] = Field(
        default="launched",
        description="launched by nfhub, or external: a Nextflow started elsewhere reported it "
        "(-with-tower)",
    )
    channel: Literal["weblog", "tower"] = Field(
        default="weblog", description="How Nextflow reports the run: -with-weblog or -with-tower"
    )
    repository: str | None = Field(default=None, description="The pipeline's git repository")
    revision: str | None = Field(default=None, description="The revision Nextflow ran")
    command_line: str | None = Field(default=None, description="Nextflow's command line")
    user_name: str | None = Field(
        default=None, description="Who ran Nextflow, as its host knows them"
    )
    error: RunError | None = Field(
        default=None,
        description="Why a failed run failed, at a glance (GET /runs/{id} only; null otherwise)",
    )


class RunProgress(ReadSchema):
    run_id: uuid.UUID
    state: RunState
    totals: TaskCounts
    processes: list[ProcessProgress]
    workflow_stats: dict[str, Any] | None = Field(
        default=None, description="Nextflow's own totals from its completed event"
    )


class LogPage(ReadSchema):
    source: Literal["nextflow", "console"]
    lines: list[str]
    count: int = Field(description="Lines in the log so far")
    offset: int
    limit: int


class OutputEntry(ReadSchema):
    path: str = Field(description="Relative to the run's output folder; folders end with '/'")
    project_path: str = Field(description="The same, relative to the project (files service)")
    name: str
    kind: Literal["file", "folder"]
    size: int | None = None
    modified: datetime | None = None
    download_url: str | None = Field(default=None, description="A signed GET URL (files)")
    download_url_expires_at: datetime | None = None


ReportKind = Literal["report", "timeline", "dag"]


class ReportEntry(ReadSchema):
    kind: ReportKind = Field(
        description="report: Nextflow's execution report; timeline: its timeline; dag: the "
        "workflow diagram"
    )
    name: str
    path: str = Field(description="Relative to the run's output folder")
    project_path: str = Field(description="The same, relative to the project (files service)")
    size: int | None = None
    modified: datetime | None = None
    download_url: str | None = Field(default=None, description="A signed GET URL (files)")
    download_url_expires_at: datetime | None = None


class RunReports(ReadSchema):
    run_id: uuid.UUID
    items: list[ReportEntry]


class RunMetrics(ReadSchema):
    run_id: uuid.UUID
    source: Literal["tasks", "tower"] = Field(
        description="tasks: computed from the run's task rows; tower: the per-process summary "
        "Nextflow's Tower client sent when the run completed"
    )
    statuses: list[str] = Field(
        description="The task statuses counted (tasks that ended; each attempt is a task)"
    )
    processes: list[ProcessMetrics]
    computed_at: datetime | None = Field(
        default=None,
        description="When nfhub computed the summaries from the task rows (null for source "
        "tower). A running run's are computed anew by the worker once a request finds them "
        "older than COMPUTE_RUNNING_METRICS_MAX_AGE_SECONDS (10 s by default); that request "
        "is answered with them as they are, up to COMPUTE_RUNNING_METRICS_STALE_MAX_SECONDS "
        "(60 s) old. An ended run's are computed once and stand until a task of the run is "
        "reported again (a late event), which has them computed anew.",
    )
