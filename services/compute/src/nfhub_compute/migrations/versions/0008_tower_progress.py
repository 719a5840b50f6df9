"""tower progress: what Nextflow's Tower client reports beside the tasks

Revision ID: 0008
Revises: 0007

``progress`` is the latest ``WorkflowProgress`` a progress, heartbeat or complete call carried
(the run's and each process's pending/submitted/running/succeeded/failed/cached counters, peak
cpus and memory), with the client's ``instant`` (epoch ms) it was sent at: a late one never
replaces a newer one. ``process_metrics`` is the complete call's per-process resource summary
(``ResourcesAggregator``: cpu, mem, time, reads, writes... as mean/min/quartiles/max).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "runs", sa.Column("progress", postgresql.JSONB(), nullable=True), schema="compute"
    )
    op.add_column(
        "runs", sa.Column("progress_instant", sa.BigInteger(), nullable=True), schema="compute"
    )
    op.add_column(
        "runs", sa.Column("process_metrics", postgresql.JSONB(), nullable=True), schema="compute"
    )


def downgrade() -> None:
    op.drop_column("runs", "process_metrics", schema="compute")
    op.drop_column("runs", "progress_instant", schema="compute")
    op.drop_column("runs", "progress", schema="compute")
