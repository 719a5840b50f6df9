"""Run webhooks: the shared rules (nfhub_shared.webhooks) over compute's tables, secrets
sealed with COMPUTE_SECRETS_KEY. The events are written by the trigger on runs (migration
0007); the worker delivers them (nfhub_compute.worker.main)."""

from __future__ import annotations

from nfhub_compute.config import Settings
from nfhub_compute.models import Webhook, WebhookAttempt, WebhookDelivery
from nfhub_compute.secrets.crypto import SecretBox
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.webhooks.service import WebhookService

RunWebhookService = WebhookService[Webhook, WebhookDelivery, WebhookAttempt]


def run_webhook_service(
    session: AsyncSession, settings: Settings, audit: AuditWriter, access: ProjectAccess
) -> RunWebhookService:
    return WebhookService(
        session,
        webhook_repository(session),
        SecretBox.from_settings(settings),
        audit,
        access,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    )
