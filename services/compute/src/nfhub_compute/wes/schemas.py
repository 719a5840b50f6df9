"""GA4GH WES 1.1 documents (``wes-1.1.0.openapi.yaml``), field for field.

Read schemas leave out what they do not know (``exclude_none`` on the routes): the spec's
fields are optional strings and objects, never null.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nfhub_compute.runs.states import RunState
from nfhub_shared.pagination import DEFAULT_LIMIT, MAX_LIMIT

WES_VERSION = "1.1.0"
WORKFLOW_TYPE = "NFL"
ENGINE = "nextflow"
# WES's page_size within the bounds of every other list's limit.
MAX_PAGE_SIZE = MAX_LIMIT
DEFAULT_PAGE_SIZE = DEFAULT_LIMIT


class WesSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorResponse(WesSchema):
    """An error on a WES route (the spec's ErrorResponse, not problem+json)."""

    msg: str = Field(description="What went wrong, and what to do")
    status_code: int = Field(description="The HTTP status, again")


class RunId(WesSchema):
    run_id: str


class RunStatus(WesSchema):
    run_id: str
    state: RunState


class RunSummary(RunStatus):
    start_time: str | None = None
    end_time: str | None = None
    tags: dict[str, str]


class RunListResponse(WesSchema):
    runs: list[RunSummary]
    next_page_token: str = Field(description="Empty when there are no more runs")


class RunRequest(WesSchema):
    workflow_params: dict[str, Any] = Field(default_factory=dict)
    workflow_type: str
    workflow_type_version: str
    tags: dict[str, str] = Field(default_factory=dict)
    workflow_engine_parameters: dict[str, str] = Field(default_factory=dict)
    workflow_engine: str | None = None
    workflow_engine_version: str | None = None
    workflow_url: str


class Log(WesSchema):
    name: str | None = None
    cmd: list[str] | None = None
    start_time: str | None = None
    end_time: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    exit_code: int | None = None
    system_logs: list[str] | None = None


class TaskLog(Log):
    id: str
    name: str
    tes_uri: str | None = None


class RunLog(WesSchema):
    run_id: str
    request: RunRequest
    state: RunState
    run_log: Log
    task_logs_url: str
    outputs: dict[str, Any]


class TaskListResponse(WesSchema):
    task_logs: list[TaskLog]
    next_page_token: str = Field(description="Empty when there are no more tasks")


class DefaultWorkflowEngineParameter(WesSchema):
    name: str
    type: str
    default_value: str | None = None


class WorkflowTypeVersion(WesSchema):
    workflow_type_version: list[str]


class WorkflowEngineVersion(WesSchema):
    workflow_engine_version: list[str]


class ServiceType(WesSchema):
    group: str
    artifact: str
    version: str


class ServiceOrganization(WesSchema):
    name: str
    url: str


class ServiceInfo(WesSchema):
    # GA4GH service-info 1.0.0's Service
    id: str
    name: str
    type: ServiceType
    description: str | None = None
    organization: ServiceOrganization
    contactUrl: str | None = None  # noqa: N815 - the spec's name
    documentationUrl: str | None = None  # noqa: N815
    createdAt: str | None = None  # noqa: N815
    updatedAt: str | None = None  # noqa: N815
    environment: str | None = None
    version: str
    # WES
    workflow_type_versions: dict[str, WorkflowTypeVersion]
    supported_wes_versions: list[str]
    supported_filesystem_protocols: list[str]
    workflow_engine_versions: dict[str, WorkflowEngineVersion]
    default_workflow_engine_parameters: list[DefaultWorkflowEngineParameter]
    system_state_counts: dict[str, int]
    auth_instructions_url: str
    tags: dict[str, str]


# -- what the service works with ----------------------------------------------------------


@dataclass(frozen=True)
class WesLaunch:
    """A POST /runs form, parsed (JSON fields decoded); the service checks the rest."""

    workflow_url: str
    workflow_type: str
    workflow_type_version: str
    workflow_params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    workflow_engine: str | None = None
    workflow_engine_version: str | None = None
    workflow_engine_parameters: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Attachment:
    """One workflow_attachment part: its file name (no folders), content and media type."""

    name: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class RunPage:
    """A page of runs as the database rendered it: ``summaries`` the JSON array of its
    RunSummary objects; ``last`` the key of its last run when more follow, else None."""

    summaries: str
    last: PageKey | None


@dataclass(frozen=True)
class JsonDocument:
    """A response body already rendered as JSON, valid against the route's response_model
    (which documents it): for hot reads whose objects would cost more to build and
    serialise one by one than to read."""

    body: bytes


@dataclass(frozen=True)
class EnvRow:
    """The org's primary compute environment, as service-info names it."""

    id: uuid.UUID
    name: str
    backend: str


@dataclass(frozen=True)
class PageKey:
    """Where a page starts: after the run (created_at, id), newest first."""

    created_at: datetime
    id: uuid.UUID
