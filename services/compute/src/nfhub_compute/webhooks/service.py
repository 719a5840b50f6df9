"""Run webhooks: the shared rules (nfhub_shared.webhooks) over compute's tables, secrets
sealed with COMPUTE_SECRETS_KEY (in the format of pipeline secrets: `python -m
nfhub_compute.secrets.rotate` re-seals both). The events are written by the trigger on runs
(migration 0007); the worker delivers them (nfhub_compute.worker.webhooks)."""

from __future__ import annotations

from nfhub_compute.config import Settings
from nfhub_compute.models import Webhook, WebhookAttempt, WebhookDelivery
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.sealing import KeyRing
from nfhub_shared.webhooks import service as shared

RunWebhookService = shared.WebhookService[Webhook, WebhookDelivery, WebhookAttempt]


def key_ring(settings: Settings) -> KeyRing:
    return shared.key_ring(settings.SECRETS_KEY, settings.SECRETS_OLD_KEYS)


def run_webhook_service(
    session: AsyncSession, settings: Settings, audit: AuditWriter, access: ProjectAccess
) -> RunWebhookService:
    return shared.webhook_service(
        session, webhook_repository(session), key_ring(settings), settings, audit, access
    )
