"""Nextflow's Tower trace payloads (plugins/nf-tower TowerClient.make*Req) and our answers.

Field names are the client's (camelCase). Unknown fields are ignored: every Nextflow release
adds some. String limits are those of the client's tower-schema.properties, which it cuts
to before sending: a longer value is not from Nextflow and gets a 422.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, InstanceOf
from pydantic.alias_generators import to_camel

# The client flushes its task buffer at 100 (TASKS_PER_REQUEST); a little room for others.
MAX_TASKS_PER_REQUEST = 500
# What the columns hold (runs.progress_instant BIGINT, runs.exit_code INTEGER): a number past
# them is a 422 naming the field, not a failed write.
Instant = Annotated[int, Field(ge=0, le=2**63 - 1)]
ExitStatus = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


@dataclass(frozen=True)
class RunGrant:
    """A caller holding a launched run's own Tower token (runs.weblog.tower_run_token): it may
    report that run, and nothing else."""

    run_id: uuid.UUID


class TowerPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", alias_generator=to_camel, populate_by_name=True)


class TraceCreate(TowerPayload):
    session_id: str = Field(min_length=1, max_length=36)
    run_name: str = Field(min_length=1, max_length=80)
    project_name: str | None = Field(default=None, max_length=100)
    repository: str | None = Field(default=None, max_length=255)
    # TOWER_WORKFLOW_ID: set when a platform launched the run and made its record first.
    workflow_id: str | None = Field(default=None, max_length=16)
    instant: Instant | None = None


class NextflowInfo(TowerPayload):
    version: str | None = Field(default=None, max_length=20)


class TowerWorkflow(TowerPayload):
    """``WorkflowMetadata.toMap()`` plus params: what nfhub keeps of it."""

    run_name: str | None = Field(default=None, max_length=80)
    session_id: str | None = Field(default=None, max_length=36)
    project_name: str | None = Field(default=None, max_length=100)
    repository: str | None = Field(default=None, max_length=255)
    revision: str | None = Field(default=None, max_length=40)
    commit_id: str | None = Field(default=None, max_length=40)
    script_name: str | None = Field(default=None, max_length=100)
    launch_dir: str | None = Field(default=None, max_length=255)
    work_dir: str | None = Field(default=None, max_length=255)
    user_name: str | None = Field(default=None, max_length=40)
    profile: str | None = Field(default=None, max_length=100)
    container_engine: str | None = Field(default=None, max_length=255)
    command_line: str | None = Field(default=None, max_length=100_000)
    start: str | None = Field(default=None, max_length=64)
    complete: str | None = Field(default=None, max_length=64)
    resume: bool | None = None
    success: bool | None = None
    exit_status: ExitStatus | None = None
    error_message: str | None = Field(default=None, max_length=100_000)
    error_report: str | None = Field(default=None, max_length=100_000)
    nextflow: NextflowInfo | None = None
    params: dict[str, Any] | None = None
    stats: dict[str, Any] | None = None


class TraceBegin(TowerPayload):
    workflow: TowerWorkflow
    process_names: list[str] = Field(default_factory=list, max_length=10_000)
    tower_launch: bool | None = None
    instant: Instant | None = None


class TraceProgress(TowerPayload):
    tasks: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_TASKS_PER_REQUEST)
    progress: dict[str, Any] | None = None
    instant: Instant | None = None


class ProgressBatch(TowerPayload):
    """TraceProgress as the endpoint reads it, from the body parsed once (tower.endpoints):
    the same checks, each task record only checked to be an object and kept as it was parsed
    (its trace and dates are read from it, tower.parsing), not copied nor made a model."""

    tasks: list[InstanceOf[dict[str, Any]]] = Field(
        default_factory=list, max_length=MAX_TASKS_PER_REQUEST
    )
    progress: dict[str, Any] | None = None
    instant: Instant | None = None


class TraceHeartbeat(TowerPayload):
    progress: dict[str, Any] | None = None
    instant: Instant | None = None


class TraceComplete(TowerPayload):
    workflow: TowerWorkflow
    # ResourcesAggregator: one entry per process.
    metrics: list[dict[str, Any]] | None = Field(default=None, max_length=10_000)
    progress: dict[str, Any] | None = None
    instant: Instant | None = None


class TraceAnswer(BaseModel):
    """What Seqera Platform answers; the client reads workflowId (create) and watchUrl (begin)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    workflow_id: str = Field(description="The id Nextflow uses in its next /trace calls")
    watch_url: str | None = Field(default=None, description="Where to follow the run in nfhub")
    message: str | None = Field(default=None, description="Logged by Nextflow as a warning")
