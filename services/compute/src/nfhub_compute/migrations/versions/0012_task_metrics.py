"""task metrics: the time a task asked for

Revision ID: 0012
Revises: 0011

``time_ms`` is the task's ``time`` directive (milliseconds; Nextflow's trace field ``time``),
against which ``GET /runs/{id}/metrics`` puts its realtime (as it puts peak_rss against
``memory`` and %cpu against ``cpus``).

No new index: the metrics query (one run's ended tasks, grouped by process) is one range scan
of ix_tasks_run_id_process_status (run_id, then status as an index condition), in process
order, so the grouping sorts nothing. A partial covering index for an index-only scan was
measured (100,000 tasks): no less CPU for the query (the sorts of percentile_cont dominate,
and a run's rows are read from cache either way), and 20 to 50 % more CPU to write task rows,
which every event does.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tasks", sa.Column("time_ms", sa.BigInteger(), nullable=True), schema="compute")


def downgrade() -> None:
    op.drop_column("tasks", "time_ms", schema="compute")
