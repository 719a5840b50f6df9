"""orders remember how their run ended

Revision ID: 0002
Revises: 0001

miner follows the runs of its orders (compute announces each run's end on the channel
``nfhub_runs``; a periodic sweep catches what was missed): a run that completes moves its order
to review, one that fails leaves the order analyzing with the failure recorded here. The index
finds an order by its run (a run has at most one order).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("run_end_state", sa.String(16)), schema="miner")
    op.add_column("orders", sa.Column("run_end_reason", sa.Text()), schema="miner")
    op.add_column("orders", sa.Column("run_ended_at", sa.DateTime(timezone=True)), schema="miner")
    op.create_index(
        op.f("ix_orders_run_id"),
        "orders",
        ["run_id"],
        schema="miner",
        postgresql_where=sa.text("run_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_run_id"), table_name="orders", schema="miner")
    op.drop_column("orders", "run_ended_at", schema="miner")
    op.drop_column("orders", "run_end_reason", schema="miner")
    op.drop_column("orders", "run_end_state", schema="miner")
