"""pipeline version source url: an index for WES's lookups of a workflow_url

Revision ID: 0010
Revises: 0009

A WES launch may name a pipeline by the git URL of one of its versions (with a revision):
WES finds those versions by ``source_url`` (``IN`` the URL's spellings), which scanned the
whole table. A hash index serves that equality lookup; a btree could not take every URL
(a btree entry holds at most about 2,700 bytes, a source URL up to 2,000 characters).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        op.f("ix_pipeline_versions_source_url"),
        "pipeline_versions",
        ["source_url"],
        schema="compute",
        postgresql_using="hash",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pipeline_versions_source_url"), "pipeline_versions", schema="compute")
