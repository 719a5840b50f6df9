from __future__ import annotations

from nfhub_compute.models import WEBHOOKS_CHANNEL, Webhook, WebhookAttempt, WebhookDelivery
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.webhooks.repository import WebhookRepository

RunWebhookRepository = WebhookRepository[Webhook, WebhookDelivery, WebhookAttempt]


def webhook_repository(session: AsyncSession) -> RunWebhookRepository:
    return WebhookRepository(session, Webhook, WebhookDelivery, WebhookAttempt, WEBHOOKS_CHANNEL)
