"""compute environments, and the environment each run was launched in

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compute_envs",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("work_dir", sa.Text(), nullable=False),
        sa.Column("launch_dir", sa.Text(), nullable=False),
        sa.Column("nextflow_config", sa.Text(), nullable=True),
        sa.Column("pre_run_script", sa.Text(), nullable=True),
        sa.Column("post_run_script", sa.Text(), nullable=True),
        sa.Column("env_vars", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("backend_options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_envs")),
        sa.UniqueConstraint("org_id", "name", name=op.f("uq_compute_envs_org_id_name")),
        schema="compute",
    )
    op.create_index(
        "ix_compute_envs_primary",
        "compute_envs",
        ["org_id"],
        unique=True,
        schema="compute",
        postgresql_where=sa.text("is_primary"),
    )
    op.add_column("runs", sa.Column("compute_env_id", sa.Uuid(), nullable=True), schema="compute")
    op.create_foreign_key(
        op.f("fk_runs_compute_env_id_compute_envs"),
        "runs",
        "compute_envs",
        ["compute_env_id"],
        ["id"],
        source_schema="compute",
        referent_schema="compute",
        ondelete="SET NULL",
    )
    op.create_index(
        op.f("ix_runs_compute_env_id"), "runs", ["compute_env_id"], unique=False, schema="compute"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_compute_env_id"), table_name="runs", schema="compute")
    op.drop_constraint(
        op.f("fk_runs_compute_env_id_compute_envs"), "runs", schema="compute", type_="foreignkey"
    )
    op.drop_column("runs", "compute_env_id", schema="compute")
    op.drop_index(
        "ix_compute_envs_primary",
        table_name="compute_envs",
        schema="compute",
        postgresql_where=sa.text("is_primary"),
    )
    op.drop_table("compute_envs", schema="compute")
