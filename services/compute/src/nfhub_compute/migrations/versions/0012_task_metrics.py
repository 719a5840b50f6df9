"""task metrics: the time a task asked for, and an index for a run's per-process metrics

Revision ID: 0012
Revises: 0009

``time_ms`` is the task's ``time`` directive (milliseconds; Nextflow's trace field ``time``),
against which ``GET /runs/{id}/metrics`` puts its realtime (as it puts peak_rss against
``memory`` and %cpu against ``cpus``). ``ix_tasks_metrics`` holds, per run and process, every
value that query reads, for the tasks it counts (those that ended: COMPLETED, FAILED,
CACHED), so the query is one range scan of the index (index-only once the table is vacuumed)
whatever else the table holds. Rows enter it only when a task ends.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

METRIC_COLUMNS = [
    "cpus", "memory", "time_ms", "cpu_percent", "peak_rss", "realtime_ms", "read_bytes",
    "write_bytes",
]  # fmt: skip


def upgrade() -> None:
    op.add_column("tasks", sa.Column("time_ms", sa.BigInteger(), nullable=True), schema="compute")
    op.create_index(
        "ix_tasks_metrics",
        "tasks",
        ["run_id", "process"],
        schema="compute",
        postgresql_include=METRIC_COLUMNS,
        postgresql_where=sa.text("status IN ('COMPLETED', 'FAILED', 'CACHED')"),
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_metrics", table_name="tasks", schema="compute")
    op.drop_column("tasks", "time_ms", schema="compute")
