"""run event feed: a journal of run, task and log changes for the live streams

Revision ID: 0006
Revises: 0005

``run_events`` is written by statement-level triggers on runs, tasks and run_log_chunks (so
every writer, whichever code path, feeds it, in the same transaction as the change) and read
by the SSE streams. Each row keeps the id of the transaction that wrote it (``xid``): ids
from a sequence commit out of order under concurrent writers, so readers take only rows whose
transaction is older than every transaction still running (``pg_snapshot_xmin``) and walk the
feed in (xid, id) order; a row can then never appear behind a position a reader has passed.
Each writing statement sends one NOTIFY on ``nfhub_run_events`` (PostgreSQL folds repeats in
a transaction into one): the API's listener wakes and reads what committed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The run's state rides on every event: the project stream filters on it without a lookup.
FUNCTIONS = {
    "run_events_of_new_runs": """
        INSERT INTO compute.run_events (xid, run_id, project_id, kind, state, data)
        SELECT pg_current_xact_id()::text::bigint, n.id, n.project_id, 'run', n.state,
               jsonb_build_object('state', n.state, 'previous', NULL, 'reason', n.state_reason)
        FROM new_rows n;
        PERFORM pg_notify('nfhub_run_events', '');
    """,
    "run_events_of_run_moves": """
        INSERT INTO compute.run_events (xid, run_id, project_id, kind, state, data)
        SELECT pg_current_xact_id()::text::bigint, n.id, n.project_id, 'run', n.state,
               jsonb_build_object(
                   'state', n.state, 'previous', o.state, 'reason', n.state_reason,
                   'exit_code', n.exit_code)
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.state IS DISTINCT FROM o.state
        ORDER BY n.id;
        IF FOUND THEN
            PERFORM pg_notify('nfhub_run_events', '');
        END IF;
    """,
    # Tasks: one event per task whose status changed (a repeated report of the same status
    # is no news). Counters are not written here: counting a run's tasks in every statement
    # would cost the ingestion a scan per event; the streams count once per delivery instead.
    "run_events_of_new_tasks": """
        INSERT INTO compute.run_events (xid, run_id, project_id, kind, state, data)
        SELECT pg_current_xact_id()::text::bigint, n.run_id, r.project_id, 'task', r.state,
               jsonb_build_object(
                   'task_id', n.task_id, 'status', n.status, 'previous', NULL,
                   'name', n.name, 'process', n.process, 'tag', n.tag,
                   'exit_status', n.exit_status, 'attempt', n.attempt)
        FROM new_rows n JOIN compute.runs r ON r.id = n.run_id
        ORDER BY n.run_id, n.task_id;
        IF FOUND THEN
            PERFORM pg_notify('nfhub_run_events', '');
        END IF;
    """,
    "run_events_of_task_moves": """
        INSERT INTO compute.run_events (xid, run_id, project_id, kind, state, data)
        SELECT pg_current_xact_id()::text::bigint, n.run_id, r.project_id, 'task', r.state,
               jsonb_build_object(
                   'task_id', n.task_id, 'status', n.status, 'previous', o.status,
                   'name', n.name, 'process', n.process, 'tag', n.tag,
                   'exit_status', n.exit_status, 'attempt', n.attempt)
        FROM new_rows n
        JOIN old_rows o ON o.run_id = n.run_id AND o.task_id = n.task_id
        JOIN compute.runs r ON r.id = n.run_id
        WHERE n.status IS DISTINCT FROM o.status
        ORDER BY n.run_id, n.task_id;
        IF FOUND THEN
            PERFORM pg_notify('nfhub_run_events', '');
        END IF;
    """,
    "run_events_of_log_chunks": """
        INSERT INTO compute.run_events (xid, run_id, project_id, kind, state, data)
        SELECT pg_current_xact_id()::text::bigint, n.run_id, r.project_id, 'log', r.state,
               jsonb_build_object(
                   'source', n.source, 'first_line', n.first_line, 'lines', to_jsonb(n.lines),
                   'truncated', n.truncated)
        FROM new_rows n JOIN compute.runs r ON r.id = n.run_id
        ORDER BY n.run_id, n.source, n.seq;
        IF FOUND THEN
            PERFORM pg_notify('nfhub_run_events', '');
        END IF;
    """,
}

TRIGGERS = (
    # (trigger, table, event, transition tables, function)
    ("runs_feed_insert", "runs", "INSERT", "NEW TABLE AS new_rows", "run_events_of_new_runs"),
    (
        "runs_feed_update",
        "runs",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "run_events_of_run_moves",
    ),
    ("tasks_feed_insert", "tasks", "INSERT", "NEW TABLE AS new_rows", "run_events_of_new_tasks"),
    (
        "tasks_feed_update",
        "tasks",
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "run_events_of_task_moves",
    ),
    (
        "run_log_chunks_feed_insert",
        "run_log_chunks",
        "INSERT",
        "NEW TABLE AS new_rows",
        "run_events_of_log_chunks",
    ),
)


def upgrade() -> None:
    op.create_table(
        "run_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("xid", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_events")),
        schema="compute",
    )
    op.create_index(op.f("ix_run_events_xid_id"), "run_events", ["xid", "id"], schema="compute")
    op.create_index(
        op.f("ix_run_events_run_id_xid_id"),
        "run_events",
        ["run_id", "xid", "id"],
        schema="compute",
    )
    # Pruning by age: a BRIN index costs next to nothing on an append-only table.
    op.create_index(
        op.f("ix_run_events_created_at"),
        "run_events",
        ["created_at"],
        schema="compute",
        postgresql_using="brin",
    )
    for name, body in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION compute.{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\n    RETURN NULL;\nEND\n$$"
        )
    for trigger, table, event, transition, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON compute.{table} "
            f"REFERENCING {transition} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION compute.{function}()"
        )


def downgrade() -> None:
    for trigger, table, _event, _transition, _function in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON compute.{table}")
    for name in FUNCTIONS:
        op.execute(f"DROP FUNCTION compute.{name}()")
    op.drop_table("run_events", schema="compute")
