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
from nfhub_shared.webhooks import service as shared

OrderWebhookService = shared.WebhookService[Webhook, WebhookDelivery, WebhookAttempt]


def key_ring(settings: Settings) -> KeyRing:
    return shared.key_ring(settings.WEBHOOK_SECRETS_KEY, settings.WEBHOOK_SECRETS_OLD_KEYS)


def order_webhook_service(
    session: AsyncSession, settings: Settings, audit: AuditWriter, access: ProjectAccess
) -> OrderWebhookService:
    return shared.webhook_service(
        session, webhook_repository(session), key_ring(settings), settings, audit, access
    )
