"""The worker's webhook delivery loop over compute's outbox (nfhub_shared.webhooks.outbox):
every worker runs one; claims never overlap."""

from __future__ import annotations

from typing import Unpack

from nfhub_compute.config import Settings
from nfhub_compute.models import WEBHOOKS_CHANNEL
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_compute.webhooks.service import key_ring
from nfhub_shared.webhooks import outbox


def deliverer(
    settings: Settings, sessions: outbox.Sessions, **options: Unpack[outbox.DelivererOptions]
) -> outbox.Deliverer:
    return outbox.new_deliverer(
        settings, sessions, webhook_repository, key_ring(settings), **options
    )


def webhook_delivery(settings: Settings, sessions: outbox.Sessions) -> outbox.DeliveryTask:
    task = deliverer(settings, sessions)
    return outbox.delivery_task(settings, task, settings.database_url, WEBHOOKS_CHANNEL)
