"""an index for the webhook deliveries list filtered by state

Revision ID: 0004
Revises: 0003

``GET /webhooks/{id}/deliveries?state=`` filters a webhook's deliveries by state, newest first.
"""

from collections.abc import Sequence

from nfhub_shared.webhooks.migration import create_delivery_state_index, drop_delivery_state_index

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_delivery_state_index("miner")


def downgrade() -> None:
    drop_delivery_state_index("miner")
