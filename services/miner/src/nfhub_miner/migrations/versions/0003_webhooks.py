"""webhooks: order moves to a project's webhooks, through a transactional outbox

Revision ID: 0003
Revises: 0002

The tables (webhooks, the webhook_deliveries outbox, webhook_attempts) and a trigger on
``order_transitions``: every move of an order's status is recorded there (by an editor, by
the run follower, by a cancel), and each writes the deliveries of its ``order.transitioned``
event in the same transaction. miner's delivery loop sends them.
"""

from collections.abc import Sequence

from alembic import op

from nfhub_shared.webhooks.migration import ISO_NOW, create_tables, drop_tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "miner"


def upgrade() -> None:
    create_tables(SCHEMA)
    op.execute(
        f"""
        CREATE FUNCTION miner.order_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            o miner.orders%ROWTYPE;
        BEGIN
            SELECT * INTO o FROM miner.orders WHERE id = NEW.order_id;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            PERFORM miner.enqueue_webhooks(o.project_id, 'order.transitioned', jsonb_build_object(
                'type', 'order.transitioned',
                'timestamp', {ISO_NOW},
                'data', jsonb_build_object(
                    'order_id', o.id,
                    'project_id', o.project_id,
                    'display_id', o.display_id,
                    'pipeline', o.pipeline_slug,
                    'pipeline_version', o.pipeline_version,
                    'from_status', NEW.from_status,
                    'to_status', NEW.to_status,
                    'actor_id', NEW.actor_id,
                    'note', NEW.note,
                    'run_id', NEW.run_id,
                    'occurred_at', NEW.occurred_at
                )
            ));
            RETURN NULL;
        END
        $$
        """  # noqa: S608 - ISO_NOW is a constant expression, not input
    )
    op.execute(
        """
        CREATE TRIGGER order_transitions_webhooks AFTER INSERT ON miner.order_transitions
        FOR EACH ROW EXECUTE FUNCTION miner.order_webhook_event()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER order_transitions_webhooks ON miner.order_transitions")
    op.execute("DROP FUNCTION miner.order_webhook_event()")
    drop_tables(SCHEMA)
