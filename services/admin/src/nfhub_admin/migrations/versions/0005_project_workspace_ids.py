"""project workspace ids: projects.workspace_id

Revision ID: 0005
Revises: 0004

Nextflow's Tower client (``-with-tower``) names the workspace a run reports into by a number
(``tower.workspaceId``, ``TOWER_WORKSPACE_ID``); in nfhub the workspace is the project. An
identity column gives every project, existing ones included, a stable number that is never
reused; compute asks admin which project a number names.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("workspace_id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        schema="admin",
    )
    op.create_unique_constraint(
        op.f("uq_projects_workspace_id"), "projects", ["workspace_id"], schema="admin"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("uq_projects_workspace_id"), "projects", schema="admin")
    op.drop_column("projects", "workspace_id", schema="admin")
