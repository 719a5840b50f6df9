from __future__ import annotations

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


class WebhookDelivery(DeliveryColumns, Base):
    """The outbox: one event for one webhook, written by the trigger on ``runs`` in the
    transaction that moved the run (migration 0007)."""


class WebhookAttempt(AttemptColumns, Base):
    """One try of a delivery (nfhub_shared.webhooks.models.AttemptColumns)."""
