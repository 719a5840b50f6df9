from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    not_,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base
from nfhub_shared.db.base import RecordMixin

LIVE_STATES = ("INITIALIZING", "RUNNING", "UNKNOWN", "CANCELING")


@dataclass(frozen=True)
class RunPipelineRef:
    """The pipeline version a run launched, as RunRead shows it."""

    id: uuid.UUID
    slug: str
    version_id: uuid.UUID
    version: str


@dataclass(frozen=True)
class RunInputRef:
    path: str | None
    order_id: uuid.UUID | None


class Run(RecordMixin, Base):
    """One ``nextflow run`` of a pipeline version in a project, and what we know of it."""

    __tablename__ = "runs"
    __table_args__ = (
        # Newest first, and WES's keyset pages over (created_at, id).
        Index(None, "project_id", "created_at", "id"),
        Index(None, "project_id", "state", "created_at"),
        Index(None, "project_id", "pipeline_slug", "created_at"),
        Index(None, "project_id", "order_id", "created_at"),
        Index(None, "labels", postgresql_using="gin"),
        # The dispatcher's queue and the reconciler's live set.
        Index(
            "ix_runs_queued",
            "created_at",
            postgresql_where=text("state = 'QUEUED'"),
        ),
        Index(
            "ix_runs_external_session",
            "project_id",
            "session_id",
            "name",
            unique=True,
            postgresql_where=text("source = 'external'"),
        ),
        Index(
            "ix_runs_live",
            "state",
            postgresql_where=text(f"state IN {LIVE_STATES!r}"),
        ),
    )

    project_id: Mapped[uuid.UUID]
    org_id: Mapped[uuid.UUID]
    # None for an external run (reported by a Nextflow nfhub did not launch).
    pipeline_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("pipelines.id"))
    pipeline_version_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("pipeline_versions.id")
    )
    pipeline_slug: Mapped[str] = mapped_column(String(100))
    pipeline_version: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    nextflow_name: Mapped[str] = mapped_column(String(80), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="QUEUED")
    state_reason: Mapped[str | None] = mapped_column(Text)

    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    input_path: Mapped[str | None] = mapped_column(Text)
    input_uri: Mapped[str | None] = mapped_column(Text)
    order_id: Mapped[uuid.UUID | None]
    profiles: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    labels: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    # Names of the pipeline secrets the run is given (values: pipeline_secrets, at launch).
    secrets: Mapped[list[str]] = mapped_column(
        ARRAY(String(100)), default=list, server_default=text("'{}'")
    )
    storage_uri: Mapped[str] = mapped_column(Text)
    outdir_uri: Mapped[str] = mapped_column(Text)

    resume: Mapped[bool] = mapped_column(default=False)
    relaunched_from_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("runs.id"))
    session_id: Mapped[str | None] = mapped_column(String(64))
    work_dir: Mapped[str | None] = mapped_column(Text)
    launch_dir: Mapped[str | None] = mapped_column(Text)

    backend: Mapped[str] = mapped_column(String(32))
    # Where it runs; NULL for runs launched before environments (or with none in the org):
    # those use the worker's own backend (COMPUTE_BACKEND, COMPUTE_WORK_ROOT).
    compute_env_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compute_envs.id", ondelete="SET NULL"), index=True
    )
    backend_handle: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    # The host identity (COMPUTE_WORKER_HOST) of the worker that claimed it: for a backend
    # bound to a host (local), only that host's worker watches, cancels and finishes it.
    owner_host: Mapped[str | None] = mapped_column(String(255))
    # Set when the run went UNKNOWN because no worker of its host heartbeats any more; its
    # weblog events do not bring it back, only its owner (who alone can finish it) does.
    owner_lost_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_code: Mapped[int | None] = mapped_column(Integer)

    workflow: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    workflow_success: Mapped[bool | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    error_report: Mapped[str | None] = mapped_column(Text)

    initializing_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    running_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    workflow_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    workflow_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    canceling_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancel_signalled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unknown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    # launched (by nfhub) | external (a Nextflow started elsewhere reported it); and how
    # nfhub hears from it: weblog | tower.
    source: Mapped[str] = mapped_column(String(16), default="launched", server_default="launched")
    channel: Mapped[str] = mapped_column(String(16), default="weblog", server_default="weblog")
    # The id Nextflow's Tower client knows the run by (its /trace/{workflowId}/… URLs).
    tower_workflow_id: Mapped[str | None] = mapped_column(String(16), unique=True)
    # Tower channel: the latest WorkflowProgress (counters of the run and of each process),
    # the client's send time of it (epoch ms: a late one never replaces a newer one), and
    # the complete call's per-process resource metrics.
    progress: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    progress_instant: Mapped[int | None] = mapped_column(BigInteger)
    process_metrics: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    # The GA4GH WES request it was launched with (wes.schemas.WesRequestRecord); None for a
    # run launched through /api/v1/runs or reported by Nextflow.
    wes_request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    # What RunRead shows beside the columns.

    @property
    def pipeline(self) -> RunPipelineRef | None:
        if self.pipeline_id is None or self.pipeline_version_id is None:
            return None
        return RunPipelineRef(
            self.pipeline_id, self.pipeline_slug, self.pipeline_version_id, self.pipeline_version
        )

    @property
    def input(self) -> RunInputRef:
        return RunInputRef(self.input_path, self.order_id)

    @property
    def outdir(self) -> str:
        """The run's output folder, relative to the project's storage."""
        return f"runs/{self.id}/"

    @property
    def nextflow_run_name(self) -> str:
        if self.source == "external":  # the name Nextflow chose, not one of ours
            return str((self.workflow or {}).get("runName") or self.name)
        return self.nextflow_name

    @property
    def nextflow_version(self) -> str | None:
        return _text_or_none((self.workflow or {}).get("nextflowVersion"))

    @property
    def commit_id(self) -> str | None:
        return _text_or_none((self.workflow or {}).get("commitId"))

    @property
    def repository(self) -> str | None:
        return _text_or_none((self.workflow or {}).get("repository"))

    @property
    def revision(self) -> str | None:
        return _text_or_none((self.workflow or {}).get("revision"))

    @property
    def command_line(self) -> str | None:
        return _text_or_none((self.workflow or {}).get("commandLine"))

    @property
    def user_name(self) -> str | None:
        """Who ran Nextflow, as its host knows them (external runs)."""
        return _text_or_none((self.workflow or {}).get("userName"))

    @property
    def resolved_params(self) -> dict[str, Any] | None:
        """The parameters as Nextflow resolved them (its started event)."""
        params = (self.workflow or {}).get("params")
        return params if isinstance(params, dict) else None


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def worker_scope(owned_by: Any, host_bound: Sequence[Any]) -> ColumnElement[bool]:
    """How workers divide the runs between them: with ``owned_by`` (a host's name, or a bound
    parameter for one), the runs of the ``host_bound`` backends that host owns; with None,
    every other run (those any worker may watch). RunRepository.live, TaskFileRepository.pending
    and a reconciler pass's first question (worker.repository.pass_work) all ask this."""
    bound = and_(Run.backend.in_(host_bound), Run.owner_host.is_not(None))
    if owned_by is not None:
        return and_(bound, Run.owner_host == owned_by)
    return not_(bound) if host_bound else true()
