"""miner's webhook delivery loop (miner has no worker process): a lifespan task in each API
process, safe with several (claims never overlap)."""

from __future__ import annotations

from typing import Unpack

from nfhub_miner.config import Settings
from nfhub_miner.models import WEBHOOKS_CHANNEL
from nfhub_miner.webhooks.repository import webhook_repository
from nfhub_miner.webhooks.service import key_ring
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
