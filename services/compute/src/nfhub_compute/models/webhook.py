from __future__ import annotations

from sqlalchemy import Index, text

from nfhub_compute.models.base import SCHEMA, Base
from nfhub_shared.webhooks.models import (
    AttemptColumns,
    DeliveryColumns,
    WebhookColumns,
    outbox_channel,
)

# Wakes the worker's delivery loop (the trigger on runs and POST /webhooks/{id}/test).
WEBHOOKS_CHANNEL = outbox_channel(SCHEMA)


class Webhook(WebhookColumns, Base):
    """Where a project's run events go (run.started, run.completed, run.failed, run.canceled)."""

    __tablename__ = "webhooks"


class WebhookDelivery(DeliveryColumns, Base):
    """The outbox: one event for one webhook, written by the trigger on ``runs`` in the
    transaction that moved the run (migration 0007)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(None, "webhook_id", "created_at"),
        Index("ix_webhook_deliveries_due", "next_attempt_at",
              postgresql_where=text("state = 'PENDING'")),
    )  # fmt: skip


class WebhookAttempt(AttemptColumns, Base):
    __tablename__ = "webhook_attempts"
    __table_args__ = (Index(None, "delivery_id", "number"),)
