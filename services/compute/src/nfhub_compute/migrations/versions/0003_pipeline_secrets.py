"""pipeline secrets: org and project secrets (encrypted), the names a run is given

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pipeline_secrets",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("sealed_value", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_secrets")),
        sa.UniqueConstraint(
            "org_id",
            "project_id",
            "name",
            name=op.f("uq_pipeline_secrets_org_id_project_id_name"),
            postgresql_nulls_not_distinct=True,
        ),
        schema="compute",
    )
    op.add_column(
        "runs",
        sa.Column(
            "secrets",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        schema="compute",
    )


def downgrade() -> None:
    op.drop_column("runs", "secrets", schema="compute")
    op.drop_table("pipeline_secrets", schema="compute")
