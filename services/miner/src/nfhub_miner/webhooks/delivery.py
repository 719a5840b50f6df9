"""miner's webhook delivery loop (miner has no worker process): a lifespan task in each API
process, safe with several (claims never overlap)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.config import Settings
from nfhub_miner.models import WEBHOOKS_CHANNEL
from nfhub_miner.webhooks.repository import webhook_repository
from nfhub_miner.webhooks.service import key_ring
from nfhub_shared.webhooks.http import new_http_client
from nfhub_shared.webhooks.outbox import Deliverer, DeliveryTask, utcnow


def deliverer(
    settings: Settings,
    sessions: Callable[[], async_sessionmaker[AsyncSession]],
    *,
    clock: Callable[[], datetime] = utcnow,
    concurrency: int = 8,
) -> Deliverer:
    return Deliverer(
        sessions,
        webhook_repository,
        key_ring(settings),
        settings.webhook_policy(),
        new_http_client(),
        clock=clock,
        concurrency=concurrency,
    )


def webhook_delivery(
    settings: Settings, sessions: Callable[[], async_sessionmaker[AsyncSession]]
) -> DeliveryTask:
    return DeliveryTask(
        deliverer(settings, sessions),
        settings.database_url,
        WEBHOOKS_CHANNEL,
        settings.WEBHOOK_SWEEP_SECONDS,
    )
