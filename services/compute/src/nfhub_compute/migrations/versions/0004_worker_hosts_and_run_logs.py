"""worker heartbeats, run owners and shipped run logs

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
        schema="compute",
    )
    op.create_index(
        op.f("ix_workers_host_last_seen_at"),
        "workers",
        ["host", "last_seen_at"],
        unique=False,
        schema="compute",
    )
    op.create_index(
        op.f("ix_workers_last_seen_at"), "workers", ["last_seen_at"], unique=False, schema="compute"
    )
    op.add_column("runs", sa.Column("owner_host", sa.String(length=255)), schema="compute")
    op.add_column("runs", sa.Column("owner_lost_at", sa.DateTime(timezone=True)), schema="compute")
    op.create_table(
        "run_log_chunks",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("lines", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("byte_count", sa.Integer(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["compute.runs.id"],
            name=op.f("fk_run_log_chunks_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "source", "seq", name=op.f("pk_run_log_chunks")),
        schema="compute",
    )


def downgrade() -> None:
    op.drop_table("run_log_chunks", schema="compute")
    op.drop_column("runs", "owner_lost_at", schema="compute")
    op.drop_column("runs", "owner_host", schema="compute")
    op.drop_index(op.f("ix_workers_last_seen_at"), table_name="workers", schema="compute")
    op.drop_index(op.f("ix_workers_host_last_seen_at"), table_name="workers", schema="compute")
    op.drop_table("workers", schema="compute")
