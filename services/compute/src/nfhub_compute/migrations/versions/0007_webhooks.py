"""webhooks: run events to a project's webhooks, through a transactional outbox

Revision ID: 0007
Revises: 0006

The tables (webhooks, the webhook_deliveries outbox, webhook_attempts) and a trigger on
``runs``: every change of a run's state, by whichever code path (the API's cancel, the
dispatcher, the reconciler, weblog and Tower ingestion), writes the deliveries of its event
in the same transaction: run.started (INITIALIZING → RUNNING, or a run reported already
running; not UNKNOWN → RUNNING, which is a run heard from again), run.completed (COMPLETE),
run.failed (EXECUTOR_ERROR, SYSTEM_ERROR), run.canceled (CANCELED). The worker delivers them.
"""

from collections.abc import Sequence

from alembic import op

from nfhub_shared.webhooks.migration import ISO_NOW, create_tables, drop_tables

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "compute"


def upgrade() -> None:
    create_tables(SCHEMA)
    op.execute(
        f"""
        CREATE FUNCTION compute.run_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            event text;
            previous text;
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.state IS NOT DISTINCT FROM OLD.state THEN
                    RETURN NULL;
                END IF;
                previous := OLD.state;
            END IF;
            event := CASE
                WHEN NEW.state = 'RUNNING' AND previous IS DISTINCT FROM 'UNKNOWN'
                    THEN 'run.started'
                WHEN NEW.state = 'COMPLETE' THEN 'run.completed'
                WHEN NEW.state IN ('EXECUTOR_ERROR', 'SYSTEM_ERROR') THEN 'run.failed'
                WHEN NEW.state = 'CANCELED' THEN 'run.canceled'
            END;
            IF event IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM compute.enqueue_webhooks(NEW.project_id, event, jsonb_build_object(
                'type', event,
                'timestamp', {ISO_NOW},
                'data', jsonb_build_object(
                    'run_id', NEW.id,
                    'project_id', NEW.project_id,
                    'name', NEW.name,
                    'nextflow_name', NEW.nextflow_name,
                    'pipeline', NEW.pipeline_slug,
                    'pipeline_version', NEW.pipeline_version,
                    'source', NEW.source,
                    'state', NEW.state,
                    'previous_state', previous,
                    'state_reason', NEW.state_reason,
                    'exit_code', NEW.exit_code,
                    'order_id', NEW.order_id,
                    'labels', to_jsonb(NEW.labels),
                    'created_at', NEW.created_at,
                    'finished_at', NEW.finished_at
                )
            ));
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER runs_webhooks AFTER INSERT OR UPDATE OF state ON compute.runs
        FOR EACH ROW EXECUTE FUNCTION compute.run_webhook_event()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER runs_webhooks ON compute.runs")
    op.execute("DROP FUNCTION compute.run_webhook_event()")
    drop_tables(SCHEMA)
