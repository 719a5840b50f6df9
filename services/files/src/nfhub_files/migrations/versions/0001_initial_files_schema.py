"""initial files schema

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nfhub_shared.db.audit_schema import create_audit_events, drop_audit_events

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("paths", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("file_count", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archives")),
        schema="files",
    )
    op.create_index(
        op.f("ix_archives_project_id_created_at"),
        "archives",
        ["project_id", "created_at"],
        unique=False,
        schema="files",
    )
    op.create_index(
        op.f("ix_archives_status_created_at"),
        "archives",
        ["status", "created_at"],
        unique=False,
        schema="files",
    )
    create_audit_events("files")
    op.create_table(
        "multipart_uploads",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("backend_upload_id", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("part_size", sa.BigInteger(), nullable=False),
        sa.Column("part_count", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_multipart_uploads")),
        schema="files",
    )
    op.create_index(
        op.f("ix_multipart_uploads_project_id_created_at"),
        "multipart_uploads",
        ["project_id", "created_at"],
        unique=False,
        schema="files",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_multipart_uploads_project_id_created_at"),
        table_name="multipart_uploads",
        schema="files",
    )
    op.drop_table("multipart_uploads", schema="files")
    drop_audit_events("files")
    op.drop_index(op.f("ix_archives_status_created_at"), table_name="archives", schema="files")
    op.drop_index(op.f("ix_archives_project_id_created_at"), table_name="archives", schema="files")
    op.drop_table("archives", schema="files")
