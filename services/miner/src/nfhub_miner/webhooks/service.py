"""Order webhooks: the shared rules (nfhub_shared.webhooks) over miner's tables, secrets
sealed with MINER_WEBHOOK_SECRETS_KEY. The events are written by the trigger on
order_transitions (migration 0003); the delivery loop (``delivery``) sends them."""

from __future__ import annotations

from nfhub_miner.config import Settings
from nfhub_miner.models import Webhook, WebhookAttempt, WebhookDelivery
from nfhub_miner.webhooks.repository import webhook_repository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.sealing import KeyRing
from nfhub_shared.webhooks.service import WebhookService

OrderWebhookService = WebhookService[Webhook, WebhookDelivery, WebhookAttempt]


def key_ring(settings: Settings) -> KeyRing:
    return KeyRing(
        settings.WEBHOOK_SECRETS_KEY.get_secret_value(),
        [key.get_secret_value() for key in settings.WEBHOOK_SECRETS_OLD_KEYS],
    )


def order_webhook_service(
    session: AsyncSession, settings: Settings, audit: AuditWriter, access: ProjectAccess
) -> OrderWebhookService:
    return WebhookService(
        session,
        webhook_repository(session),
        key_ring(settings),
        audit,
        access,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    )
