"""an index for the orders that have a samplesheet

Revision ID: 0005
Revises: 0004

``GET /orders?has_samplesheet=true`` lists the orders a run can take as input (the web's launch
form), newest first: a partial index keeps them found however many orders have none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_orders_project_id_created_at_id_with_samplesheet",
        "orders",
        ["project_id", "created_at", "id"],
        schema="miner",
        postgresql_where=sa.text("samplesheet_path IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_orders_project_id_created_at_id_with_samplesheet", table_name="orders", schema="miner"
    )
