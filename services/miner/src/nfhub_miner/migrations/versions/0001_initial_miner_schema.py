"""initial miner schema

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
    create_audit_events("miner")
    op.create_table(
        "orders",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("display_id", sa.String(length=100), nullable=False),
        sa.Column("pipeline_slug", sa.String(length=100), nullable=False),
        sa.Column("pipeline_version", sa.String(length=100), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("samplesheet_path", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint(
            "project_id", "display_id", name=op.f("uq_orders_project_id_display_id")
        ),
        schema="miner",
    )
    op.create_index(
        op.f("ix_orders_project_id_created_at_id"),
        "orders",
        ["project_id", "created_at", "id"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_orders_project_id_pipeline_slug_created_at"),
        "orders",
        ["project_id", "pipeline_slug", "created_at"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_orders_project_id_status_created_at"),
        "orders",
        ["project_id", "status", "created_at"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_orders_tags"),
        "orders",
        ["tags"],
        unique=False,
        schema="miner",
        postgresql_using="gin",
    )
    op.create_table(
        "project_counts",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "kind", name=op.f("pk_project_counts")),
        schema="miner",
    )
    op.create_table(
        "subjects",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("display_id", sa.String(length=100), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("diagnosis", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', search_text)", persisted=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
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
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint(
            "project_id", "display_id", name=op.f("uq_subjects_project_id_display_id")
        ),
        schema="miner",
    )
    op.create_index(
        op.f("ix_subjects_project_id_created_at_id"),
        "subjects",
        ["project_id", "created_at", "id"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_subjects_search_vector"),
        "subjects",
        ["search_vector"],
        unique=False,
        schema="miner",
        postgresql_using="gin",
    )
    op.create_index(
        op.f("ix_subjects_tags"),
        "subjects",
        ["tags"],
        unique=False,
        schema="miner",
        postgresql_using="gin",
    )
    op.create_table(
        "order_transitions",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=False),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("run_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["miner.orders.id"],
            name=op.f("fk_order_transitions_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_transitions")),
        schema="miner",
    )
    op.create_index(
        op.f("ix_order_transitions_order_id_occurred_at"),
        "order_transitions",
        ["order_id", "occurred_at"],
        unique=False,
        schema="miner",
    )
    op.create_table(
        "samples",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("display_id", sa.String(length=100), nullable=False),
        sa.Column("sample_type", sa.String(length=16), nullable=False),
        sa.Column("tissue", sa.String(length=200), nullable=True),
        sa.Column("collection_date", sa.Date(), nullable=True),
        sa.Column("barcode", sa.String(length=100), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("files", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('simple', search_text)", persisted=True),
            nullable=False,
        ),
        sa.Column("created_by", sa.String(length=64), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["subject_id"], ["miner.subjects.id"], name=op.f("fk_samples_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_samples")),
        sa.UniqueConstraint(
            "project_id", "display_id", name=op.f("uq_samples_project_id_display_id")
        ),
        schema="miner",
    )
    op.create_index(
        op.f("ix_samples_project_id_created_at_id"),
        "samples",
        ["project_id", "created_at", "id"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_samples_project_id_sample_type_created_at"),
        "samples",
        ["project_id", "sample_type", "created_at"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_samples_project_id_subject_id_created_at"),
        "samples",
        ["project_id", "subject_id", "created_at"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_samples_search_vector"),
        "samples",
        ["search_vector"],
        unique=False,
        schema="miner",
        postgresql_using="gin",
    )
    op.create_index(
        op.f("ix_samples_tags"),
        "samples",
        ["tags"],
        unique=False,
        schema="miner",
        postgresql_using="gin",
    )
    op.create_table(
        "order_samples",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("sample_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["miner.orders.id"],
            name=op.f("fk_order_samples_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["miner.samples.id"], name=op.f("fk_order_samples_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("order_id", "sample_id", name=op.f("pk_order_samples")),
        schema="miner",
    )
    op.create_index(
        op.f("ix_order_samples_order_id_position"),
        "order_samples",
        ["order_id", "position"],
        unique=False,
        schema="miner",
    )
    op.create_index(
        op.f("ix_order_samples_sample_id"),
        "order_samples",
        ["sample_id"],
        unique=False,
        schema="miner",
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_order_samples_sample_id"), table_name="order_samples", schema="miner")
    op.drop_index(
        op.f("ix_order_samples_order_id_position"), table_name="order_samples", schema="miner"
    )
    op.drop_table("order_samples", schema="miner")
    op.drop_index(
        op.f("ix_samples_tags"), table_name="samples", schema="miner", postgresql_using="gin"
    )
    op.drop_index(
        op.f("ix_samples_search_vector"),
        table_name="samples",
        schema="miner",
        postgresql_using="gin",
    )
    op.drop_index(
        op.f("ix_samples_project_id_subject_id_created_at"), table_name="samples", schema="miner"
    )
    op.drop_index(
        op.f("ix_samples_project_id_sample_type_created_at"), table_name="samples", schema="miner"
    )
    op.drop_index(op.f("ix_samples_project_id_created_at_id"), table_name="samples", schema="miner")
    op.drop_table("samples", schema="miner")
    op.drop_index(
        op.f("ix_order_transitions_order_id_occurred_at"),
        table_name="order_transitions",
        schema="miner",
    )
    op.drop_table("order_transitions", schema="miner")
    op.drop_index(
        op.f("ix_subjects_tags"), table_name="subjects", schema="miner", postgresql_using="gin"
    )
    op.drop_index(
        op.f("ix_subjects_search_vector"),
        table_name="subjects",
        schema="miner",
        postgresql_using="gin",
    )
    op.drop_index(
        op.f("ix_subjects_project_id_created_at_id"), table_name="subjects", schema="miner"
    )
    op.drop_table("subjects", schema="miner")
    op.drop_table("project_counts", schema="miner")
    op.drop_index(
        op.f("ix_orders_tags"), table_name="orders", schema="miner", postgresql_using="gin"
    )
    op.drop_index(
        op.f("ix_orders_project_id_status_created_at"), table_name="orders", schema="miner"
    )
    op.drop_index(
        op.f("ix_orders_project_id_pipeline_slug_created_at"), table_name="orders", schema="miner"
    )
    op.drop_index(op.f("ix_orders_project_id_created_at_id"), table_name="orders", schema="miner")
    op.drop_table("orders", schema="miner")
    drop_audit_events("miner")
