"""indexes for the project event stream and the webhook deliveries list by state

Revision ID: 0013
Revises: 0012

``GET /runs/stream`` reads a project's events after a cursor (project_id, then xid, id);
``GET /webhooks/{id}/deliveries?state=`` filters a webhook's deliveries by state, newest first.
Both were served by scans of the wider indexes until now.
"""

from collections.abc import Sequence

from alembic import op

from nfhub_shared.webhooks.migration import create_delivery_state_index, drop_delivery_state_index

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_run_events_project_id_xid_id"),
        "run_events",
        ["project_id", "xid", "id"],
        schema="compute",
    )
    create_delivery_state_index("compute")


def downgrade() -> None:
    drop_delivery_state_index("compute")
    op.drop_index(
        op.f("ix_run_events_project_id_xid_id"), table_name="run_events", schema="compute"
    )
