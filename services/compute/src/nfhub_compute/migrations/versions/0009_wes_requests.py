"""wes requests: the GA4GH WES request a run was launched with, and keyset paging

Revision ID: 0009
Revises: 0008

A run launched through WES (``/ga4gh/wes/v1/runs``) keeps the request it was launched with
(workflow_type, versions, tags, engine parameters, url), which its RunLog echoes; a run
launched through ``/api/v1/runs`` has none. WES lists runs by keyset over (created_at, id),
newest first: the project's index gains ``id``, so a page is one index range scan whatever
the number of runs, and the old (project_id, created_at) index, a prefix of it, goes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column("wes_request", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="compute",
    )
    op.create_index(
        op.f("ix_runs_project_id_created_at_id"),
        "runs",
        ["project_id", "created_at", "id"],
        schema="compute",
    )
    op.drop_index(op.f("ix_runs_project_id_created_at"), "runs", schema="compute")


def downgrade() -> None:
    op.create_index(
        op.f("ix_runs_project_id_created_at"), "runs", ["project_id", "created_at"],
        schema="compute",
    )  # fmt: skip
    op.drop_index(op.f("ix_runs_project_id_created_at_id"), "runs", schema="compute")
    op.drop_column("runs", "wes_request", schema="compute")
