"""The audit_events table as migrations create it: the same in every service's schema.

Every service keeps its own append-only audit trail (``nfhub_shared.audit``); its first
migration calls ``create_audit_events`` and its downgrade ``drop_audit_events``, so the table,
its indexes and its append-only trigger are written once.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nfhub_shared.audit import append_only_trigger_sql

# (columns) of each index, named ix_audit_events_<columns> by the naming convention.
AUDIT_INDEXES: tuple[tuple[str, str], ...] = (
    ("action", "occurred_at"),
    ("actor_id", "occurred_at"),
    ("org_id", "occurred_at"),
    ("resource_type", "resource_id"),
)


def _index_name(columns: tuple[str, str]) -> str:
    return f"ix_audit_events_{'_'.join(columns)}"


def create_audit_events(schema: str) -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor_id", sa.String(length=64), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("org_id", sa.Uuid(), nullable=True),
        sa.Column("project_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column(
            "details", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        schema=schema,
    )
    for columns in AUDIT_INDEXES:
        op.create_index(
            op.f(_index_name(columns)), "audit_events", list(columns), unique=False, schema=schema
        )
    for statement in append_only_trigger_sql(schema):
        op.execute(statement)


def drop_audit_events(schema: str) -> None:
    op.execute(f'DROP TRIGGER IF EXISTS audit_events_append_only ON "{schema}".audit_events')
    op.execute(f'DROP FUNCTION IF EXISTS "{schema}".audit_events_append_only()')
    for columns in reversed(AUDIT_INDEXES):
        op.drop_index(op.f(_index_name(columns)), table_name="audit_events", schema=schema)
    op.drop_table("audit_events", schema=schema)
