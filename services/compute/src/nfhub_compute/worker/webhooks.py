"""The worker's webhook delivery loop over compute's outbox (nfhub_shared.webhooks.outbox):
every worker runs one; claims never overlap."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.config import Settings
from nfhub_compute.models import WEBHOOKS_CHANNEL
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_compute.webhooks.service import key_ring
from nfhub_shared.webhooks.outbox import (
    Deliverer,
    DeliveryTask,
    delivery_task,
    new_deliverer,
    utcnow,
)


def deliverer(
    settings: Settings,
    sessions: Callable[[], async_sessionmaker[AsyncSession]],
    *,
    clock: Callable[[], datetime] = utcnow,
    concurrency: int = 8,
) -> Deliverer:
    return new_deliverer(
        settings,
        sessions,
        webhook_repository,
        key_ring(settings),
        clock=clock,
        concurrency=concurrency,
    )


def webhook_delivery(
    settings: Settings, sessions: Callable[[], async_sessionmaker[AsyncSession]]
) -> DeliveryTask:
    return delivery_task(
        settings, deliverer(settings, sessions), settings.database_url, WEBHOOKS_CHANNEL
    )
