"""run metrics: each run's per-process summaries, stored once computed

Revision ID: 0014
Revises: 0013

``GET /runs/{id}/metrics`` sorts every series of a run's ended tasks (percentile_cont), too
slow to do on every request of a large run (bench/metrics.py). ``run_metrics`` keeps the
answer: ``final`` for a run that had ended when it was computed (it stands until a task of
the run changes), else a running run's: served as it is while younger than
COMPUTE_RUNNING_METRICS_MAX_AGE_SECONDS; older, a reader asks for it anew
(``refresh_requested_at``, the worker computes it) and is served the stored one meanwhile.

A task written after the end (a late weblog event, the trace file read at the end) drops the
final row, whichever statement writes it: statement-level triggers on tasks (the tasks
already have two, the event feed's, whose transition tables these share). So that a late
task cannot slip between a reader's snapshot and the row it stores, every writing statement
takes a shared advisory lock per run it wrote (``run_metrics_lock_key``) and a reader storing
a final row takes it exclusively: it waits for the writers in flight, and writers after it
wait for its commit, then drop the row it stored.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_KEY = """
    CREATE FUNCTION compute.run_metrics_lock_key(run_id uuid) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashtextextended('nfhub.compute.run-metrics:' || run_id::text, 0)
"""
# In run order: concurrent statements take the shared locks alike (they never wait on each
# other, only on a reader's exclusive one).
INVALIDATE = """
    CREATE FUNCTION compute.run_metrics_of_changed_tasks() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_advisory_xact_lock_shared(compute.run_metrics_lock_key(c.run_id))
        FROM (SELECT DISTINCT run_id FROM changed_rows ORDER BY run_id) AS c;
        DELETE FROM compute.run_metrics m
        WHERE m.final AND m.run_id IN (SELECT run_id FROM changed_rows);
        RETURN NULL;
    END
    $$
"""
TRIGGERS = (
    ("tasks_metrics_insert", "INSERT", "NEW TABLE AS changed_rows"),
    ("tasks_metrics_update", "UPDATE", "NEW TABLE AS changed_rows"),
    ("tasks_metrics_delete", "DELETE", "OLD TABLE AS changed_rows"),
)


def upgrade() -> None:
    op.create_table(
        "run_metrics",
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("processes", postgresql.JSONB(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refresh_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["compute.runs.id"],
            name=op.f("fk_run_metrics_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_metrics")),
        schema="compute",
    )
    op.create_index(
        op.f("ix_run_metrics_refresh_requested_at"),
        "run_metrics",
        ["refresh_requested_at"],
        schema="compute",
        postgresql_where=sa.text("refresh_requested_at IS NOT NULL"),
    )
    op.execute(LOCK_KEY)
    op.execute(INVALIDATE)
    for trigger, event, transition in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {trigger} AFTER {event} ON compute.tasks "
            f"REFERENCING {transition} FOR EACH STATEMENT "
            "EXECUTE FUNCTION compute.run_metrics_of_changed_tasks()"
        )


def downgrade() -> None:
    for trigger, _event, _transition in TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger} ON compute.tasks")
    op.execute("DROP FUNCTION compute.run_metrics_of_changed_tasks()")
    op.execute("DROP FUNCTION compute.run_metrics_lock_key(uuid)")
    op.drop_index(
        op.f("ix_run_metrics_refresh_requested_at"), table_name="run_metrics", schema="compute"
    )
    op.drop_table("run_metrics", schema="compute")
