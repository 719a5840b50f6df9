"""task files: a task's .command.* files shipped by the worker; log offsets

Revision ID: 0011
Revises: 0010

``task_files`` holds the files of a task's work dir (stdout, stderr, log, script) as the
worker that owns the run shipped them, so the API serves them from any backend and after the
work dir is cleaned up. ``task_file_fetches`` says, per task, whether they were shipped, are
asked for (``pending``: the worker's queue, a partial index), or could not be read (``gone``).

``run_log_chunks.file_offset``: where a chunk ends in its file, so the next pass reads the
log from there rather than from its start.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "run_log_chunks", sa.Column("file_offset", sa.BigInteger(), nullable=True), schema="compute"
    )
    op.create_table(
        "task_file_fetches",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id"],
            ["compute.tasks.run_id", "compute.tasks.task_id"],
            name=op.f("fk_task_file_fetches_run_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "task_id", name=op.f("pk_task_file_fetches")),
        schema="compute",
    )
    op.create_index(
        op.f("ix_task_file_fetches_requested_at"),
        "task_file_fetches",
        ["requested_at"],
        schema="compute",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_table(
        "task_files",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("file", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column(
            "shipped_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id", "task_id"],
            ["compute.tasks.run_id", "compute.tasks.task_id"],
            name=op.f("fk_task_files_run_id_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "task_id", "file", name=op.f("pk_task_files")),
        schema="compute",
    )


def downgrade() -> None:
    op.drop_table("task_files", schema="compute")
    op.drop_index(
        op.f("ix_task_file_fetches_requested_at"),
        table_name="task_file_fetches",
        schema="compute",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.drop_table("task_file_fetches", schema="compute")
    op.drop_column("run_log_chunks", "file_offset", schema="compute")
