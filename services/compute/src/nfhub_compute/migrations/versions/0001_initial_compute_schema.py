"""initial compute schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nfhub_shared.db.audit_schema import create_audit_events, drop_audit_events

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_events("compute")
    op.create_table(
        "pipelines",
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("from_catalog", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
        sa.UniqueConstraint(
            "org_id",
            "slug",
            name=op.f("uq_pipelines_org_id_slug"),
            postgresql_nulls_not_distinct=True,
        ),
        schema="compute",
    )
    op.create_index(
        op.f("ix_pipelines_visibility_slug"),
        "pipelines",
        ["visibility", "slug"],
        unique=False,
        schema="compute",
    )
    op.create_table(
        "pipeline_versions",
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("source_kind", sa.String(length=8), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("revision", sa.String(length=200), nullable=True),
        sa.Column("source_path", sa.Text(), nullable=True),
        sa.Column("params_schema", postgresql.JSON(astext_type=sa.Text()), nullable=True),
        sa.Column("input_schema", postgresql.JSON(astext_type=sa.Text()), nullable=True),
        sa.Column("default_params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("profiles", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("deprecated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deprecation_note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["compute.pipelines.id"],
            name=op.f("fk_pipeline_versions_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_versions")),
        sa.UniqueConstraint(
            "pipeline_id", "version", name=op.f("uq_pipeline_versions_pipeline_id_version")
        ),
        schema="compute",
    )
    op.create_index(
        op.f("ix_pipeline_versions_pipeline_id_created_at"),
        "pipeline_versions",
        ["pipeline_id", "created_at"],
        unique=False,
        schema="compute",
    )
    op.create_table(
        "runs",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_version_id", sa.Uuid(), nullable=False),
        sa.Column("pipeline_slug", sa.String(length=100), nullable=False),
        sa.Column("pipeline_version", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("nextflow_name", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("input_path", sa.Text(), nullable=True),
        sa.Column("input_uri", sa.Text(), nullable=True),
        sa.Column("order_id", sa.Uuid(), nullable=True),
        sa.Column("profiles", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("labels", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("storage_uri", sa.Text(), nullable=False),
        sa.Column("outdir_uri", sa.Text(), nullable=False),
        sa.Column("resume", sa.Boolean(), nullable=False),
        sa.Column("relaunched_from_id", sa.Uuid(), nullable=True),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("work_dir", sa.Text(), nullable=True),
        sa.Column("launch_dir", sa.Text(), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("backend_handle", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("workflow", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("stats", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("workflow_success", sa.Boolean(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_report", sa.Text(), nullable=True),
        sa.Column("initializing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("running_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workflow_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workflow_completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceling_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_signalled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unknown_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["compute.pipelines.id"], name=op.f("fk_runs_pipeline_id_pipelines")
        ),
        sa.ForeignKeyConstraint(
            ["pipeline_version_id"],
            ["compute.pipeline_versions.id"],
            name=op.f("fk_runs_pipeline_version_id_pipeline_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["relaunched_from_id"],
            ["compute.runs.id"],
            name=op.f("fk_runs_relaunched_from_id_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("nextflow_name", name=op.f("uq_runs_nextflow_name")),
        schema="compute",
    )
    op.create_index(
        op.f("ix_runs_labels"),
        "runs",
        ["labels"],
        unique=False,
        schema="compute",
        postgresql_using="gin",
    )
    op.create_index(
        "ix_runs_live",
        "runs",
        ["state"],
        unique=False,
        schema="compute",
        postgresql_where=sa.text("state IN ('INITIALIZING', 'RUNNING', 'UNKNOWN', 'CANCELING')"),
    )
    op.create_index(
        op.f("ix_runs_project_id_created_at"),
        "runs",
        ["project_id", "created_at"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        op.f("ix_runs_project_id_order_id_created_at"),
        "runs",
        ["project_id", "order_id", "created_at"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        op.f("ix_runs_project_id_pipeline_slug_created_at"),
        "runs",
        ["project_id", "pipeline_slug", "created_at"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        op.f("ix_runs_project_id_state_created_at"),
        "runs",
        ["project_id", "state", "created_at"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        "ix_runs_queued",
        "runs",
        ["created_at"],
        unique=False,
        schema="compute",
        postgresql_where=sa.text("state = 'QUEUED'"),
    )
    op.create_table(
        "tasks",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_rank", sa.SmallInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("process", sa.String(length=500), nullable=False),
        sa.Column("tag", sa.Text(), nullable=True),
        sa.Column("native_id", sa.String(length=200), nullable=True),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("error_action", sa.String(length=16), nullable=True),
        sa.Column("workdir", sa.Text(), nullable=True),
        sa.Column("container", sa.Text(), nullable=True),
        sa.Column("hostname", sa.String(length=255), nullable=True),
        sa.Column("cpus", sa.Integer(), nullable=True),
        sa.Column("memory", sa.BigInteger(), nullable=True),
        sa.Column("submit_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("complete_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("realtime_ms", sa.BigInteger(), nullable=True),
        sa.Column("cpu_percent", sa.Float(), nullable=True),
        sa.Column("peak_rss", sa.BigInteger(), nullable=True),
        sa.Column("peak_vmem", sa.BigInteger(), nullable=True),
        sa.Column("read_bytes", sa.BigInteger(), nullable=True),
        sa.Column("write_bytes", sa.BigInteger(), nullable=True),
        sa.Column("trace", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["compute.runs.id"], name=op.f("fk_tasks_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "task_id", name=op.f("pk_tasks")),
        schema="compute",
    )
    op.create_index(
        op.f("ix_tasks_run_id_process_status"),
        "tasks",
        ["run_id", "process", "status"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        op.f("ix_tasks_run_id_status"),
        "tasks",
        ["run_id", "status"],
        unique=False,
        schema="compute",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_run_id_status"), table_name="tasks", schema="compute")
    op.drop_index(op.f("ix_tasks_run_id_process_status"), table_name="tasks", schema="compute")
    op.drop_table("tasks", schema="compute")
    op.drop_index(
        "ix_runs_queued",
        table_name="runs",
        schema="compute",
        postgresql_where=sa.text("state = 'QUEUED'"),
    )
    op.drop_index(op.f("ix_runs_project_id_state_created_at"), table_name="runs", schema="compute")
    op.drop_index(
        op.f("ix_runs_project_id_pipeline_slug_created_at"), table_name="runs", schema="compute"
    )
    op.drop_index(
        op.f("ix_runs_project_id_order_id_created_at"), table_name="runs", schema="compute"
    )
    op.drop_index(op.f("ix_runs_project_id_created_at"), table_name="runs", schema="compute")
    op.drop_index(
        "ix_runs_live",
        table_name="runs",
        schema="compute",
        postgresql_where=sa.text("state IN ('INITIALIZING', 'RUNNING', 'UNKNOWN', 'CANCELING')"),
    )
    op.drop_index(
        op.f("ix_runs_labels"), table_name="runs", schema="compute", postgresql_using="gin"
    )
    op.drop_table("runs", schema="compute")
    op.drop_index(
        op.f("ix_pipeline_versions_pipeline_id_created_at"),
        table_name="pipeline_versions",
        schema="compute",
    )
    op.drop_table("pipeline_versions", schema="compute")
    op.drop_index(op.f("ix_pipelines_visibility_slug"), table_name="pipelines", schema="compute")
    op.drop_table("pipelines", schema="compute")
    drop_audit_events("compute")
