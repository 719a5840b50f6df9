"""The webhook tables and the outbox's SQL function, created by each service's own migration
in its own schema (they are the columns of ``models``).

``<schema>.enqueue_webhooks(project_id, event, payload)`` writes one pending delivery per
enabled webhook of the project that takes the event, and NOTIFYs the delivery loop: a
service's triggers call it, so the outbox rows are written in the transaction of the change
whichever code path made it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from nfhub_shared.webhooks.models import outbox_channel


def create_tables(schema: str) -> None:
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("previous_secret_sealed", sa.Text(), nullable=True),
        sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
        schema=schema,
    )  # fmt: skip
    op.create_index(op.f("ix_webhooks_project_id"), "webhooks", ["project_id"], schema=schema)
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("webhook_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.ForeignKeyConstraint(["webhook_id"], [f"{schema}.webhooks.id"], ondelete="CASCADE",
                                name=op.f("fk_webhook_deliveries_webhook_id_webhooks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        schema=schema,
    )  # fmt: skip
    op.create_index(
        op.f("ix_webhook_deliveries_webhook_id_created_at"),
        "webhook_deliveries",
        ["webhook_id", "created_at"],
        schema=schema,
    )
    # The delivery loop's queue.
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        schema=schema,
        postgresql_where=sa.text("state = 'PENDING'"),
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], [f"{schema}.webhook_deliveries.id"],
                                ondelete="CASCADE",
                                name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
        schema=schema,
    )  # fmt: skip
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id_number"),
        "webhook_attempts",
        ["delivery_id", "number"],
        schema=schema,
    )
    op.execute(
        f"""
        CREATE FUNCTION {schema}.enqueue_webhooks(p_project uuid, p_event text, p_payload jsonb)
        RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
            queued integer;
        BEGIN
            INSERT INTO {schema}.webhook_deliveries
                (id, webhook_id, project_id, event_type, payload, state, attempts,
                 next_attempt_at, created_at, updated_at)
            SELECT gen_random_uuid(), w.id, p_project, p_event, p_payload, 'PENDING', 0,
                   now(), clock_timestamp(), clock_timestamp()
            FROM {schema}.webhooks AS w
            WHERE w.project_id = p_project AND w.enabled AND p_event = ANY (w.events);
            GET DIAGNOSTICS queued = ROW_COUNT;
            IF queued > 0 THEN
                PERFORM pg_notify('{outbox_channel(schema)}', '');
            END IF;
            RETURN queued;
        END
        $$
        """  # noqa: S608 - the schema is the migration's constant, not input
    )


def create_delivery_state_index(schema: str) -> None:
    """The deliveries list filtered by state (``GET /webhooks/{id}/deliveries?state=``)."""
    op.create_index(
        op.f("ix_webhook_deliveries_webhook_id_state_created_at"),
        "webhook_deliveries",
        ["webhook_id", "state", "created_at"],
        schema=schema,
    )


def drop_delivery_state_index(schema: str) -> None:
    op.drop_index(
        op.f("ix_webhook_deliveries_webhook_id_state_created_at"),
        table_name="webhook_deliveries",
        schema=schema,
    )


def drop_tables(schema: str) -> None:
    op.execute(f"DROP FUNCTION {schema}.enqueue_webhooks(uuid, text, jsonb)")
    op.drop_table("webhook_attempts", schema=schema)
    op.drop_table("webhook_deliveries", schema=schema)
    op.drop_table("webhooks", schema=schema)


# A timestamp as the payloads show it: ISO 8601 UTC with a Z.
ISO_NOW = "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
