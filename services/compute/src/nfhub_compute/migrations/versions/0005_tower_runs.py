"""tower runs: external runs reported through Nextflow's Tower trace protocol

Revision ID: 0005
Revises: 0004

A Nextflow started by hand elsewhere (``-with-tower``) reports into a project: its run has no
pipeline version of ours (the two ids become nullable), is ``external`` rather than
``launched``, hears through the ``tower`` channel rather than the weblog, and is known to
Nextflow by a short workflow id (unique: it is the key of every /trace/{id}/… call).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column("runs", "pipeline_id", nullable=True, schema="compute")
    op.alter_column("runs", "pipeline_version_id", nullable=True, schema="compute")
    op.add_column(
        "runs",
        sa.Column("source", sa.String(16), server_default="launched", nullable=False),
        schema="compute",
    )
    op.add_column(
        "runs",
        sa.Column("channel", sa.String(16), server_default="weblog", nullable=False),
        schema="compute",
    )
    op.add_column(
        "runs", sa.Column("tower_workflow_id", sa.String(16), nullable=True), schema="compute"
    )
    op.create_unique_constraint(
        op.f("uq_runs_tower_workflow_id"), "runs", ["tower_workflow_id"], schema="compute"
    )
    # One external run per Nextflow session and run name in a project: a replayed create
    # finds the run it made.
    op.create_index(
        "ix_runs_external_session",
        "runs",
        ["project_id", "session_id", "name"],
        unique=True,
        schema="compute",
        postgresql_where=sa.text("source = 'external'"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_external_session", "runs", schema="compute")
    op.drop_constraint(op.f("uq_runs_tower_workflow_id"), "runs", schema="compute")
    op.drop_column("runs", "tower_workflow_id", schema="compute")
    op.drop_column("runs", "channel", schema="compute")
    op.drop_column("runs", "source", schema="compute")
    # External runs have no pipeline version; they cannot survive the downgrade.
    op.execute("DELETE FROM compute.runs WHERE pipeline_version_id IS NULL")
    op.alter_column("runs", "pipeline_version_id", nullable=False, schema="compute")
    op.alter_column("runs", "pipeline_id", nullable=False, schema="compute")
