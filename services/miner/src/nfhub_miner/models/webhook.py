from __future__ import annotations

from nfhub_miner.models.base import SCHEMA, Base
from nfhub_shared.webhooks.models import (
    AttemptColumns,
    DeliveryColumns,
    WebhookColumns,
    outbox_channel,
)

# Wakes the delivery loop (the trigger on order_transitions and POST /webhooks/{id}/test).
WEBHOOKS_CHANNEL = outbox_channel(SCHEMA)


class Webhook(WebhookColumns, Base):
    """Where a project's order events go (order.transitioned)."""


class WebhookDelivery(DeliveryColumns, Base):
    """The outbox: one event for one webhook, written by the trigger on ``order_transitions``
    in the transaction that moved the order (migration 0003)."""


class WebhookAttempt(AttemptColumns, Base):
    """One try of a delivery (nfhub_shared.webhooks.models.AttemptColumns)."""
