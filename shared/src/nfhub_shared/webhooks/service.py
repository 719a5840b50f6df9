"""The rules of webhooks, the same in every service that sends them: who manages them (the
endpoints' dependencies), targets refused by the SSRF guard, the secret shown once and kept
sealed, test deliveries through the outbox like any event."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Protocol
from urllib.parse import urlsplit

from pydantic import SecretStr

from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import FieldProblem, ValidationFailed
from nfhub_shared.sealing import KeyRing
from nfhub_shared.webhooks.errors import WebhookDisabled, WebhookNotFound
from nfhub_shared.webhooks.models import DeliveryState
from nfhub_shared.webhooks.repository import A, D, W, WebhookRepository, build
from nfhub_shared.webhooks.schemas import (
    TEST_EVENT,
    AttemptRead,
    DeliveryRead,
    WebhookCreateBase,
    WebhookUpdateBase,
)
from nfhub_shared.webhooks.settings import WebhookSettings
from nfhub_shared.webhooks.signing import new_secret
from nfhub_shared.webhooks.targets import TargetRefused, check_url


class Sealer(Protocol):
    """Encrypts at rest (nfhub_shared.sealing.KeyRing under the service's key)."""

    def seal(self, value: str, associated: bytes) -> str: ...

    def open(self, sealed: str, associated: bytes) -> str: ...

    def is_current(self, sealed: str) -> bool: ...


RESEAL_BATCH = 500


async def reseal_batch(
    repository: WebhookRepository[Any, Any, Any], sealer: Sealer, after: uuid.UUID | None
) -> tuple[int, uuid.UUID | None]:
    """Re-encrypt with the current key one batch of webhook secrets sealed with an older one:
    how many, and where the next batch starts (None: done). Each batch is the caller's
    transaction, so a rotation can stop and start again."""
    rows = await repository.all_for_update(batch=RESEAL_BATCH, after=after)
    resealed = 0
    for row in rows:
        # Each field on its own: after rotate-secret the new secret is under the current key
        # while the previous one (still signing) may be under an older key.
        stale = [
            name
            for name in ("secret_sealed", "previous_secret_sealed")
            if getattr(row, name) and not sealer.is_current(getattr(row, name))
        ]
        where = secret_binding(row.id)
        for name in stale:
            setattr(row, name, sealer.seal(sealer.open(getattr(row, name), where), where))
        resealed += bool(stale)
    await repository.session.flush()
    return resealed, (rows[-1].id if len(rows) == RESEAL_BATCH else None)


async def reseal_all(
    settings: BaseServiceSettings,
    repository: Callable[[AsyncSession], WebhookRepository[Any, Any, Any]],
    sealer: Sealer,
    *,
    application_name: str,
) -> int:
    """Re-encrypt with the current key every webhook secret sealed with an older one, batch
    by batch (one transaction each); how many (the key rotation commands)."""
    engine = create_engine(settings, application_name=application_name)
    sessionmaker = create_sessionmaker(engine)
    total = 0
    after: uuid.UUID | None = None
    try:
        while True:
            async with sessionmaker() as session, session.begin():
                resealed, after = await reseal_batch(repository(session), sealer, after)
            total += resealed
            if after is None:
                return total
    finally:
        await engine.dispose()


def key_ring(current: SecretStr, previous: Sequence[SecretStr]) -> KeyRing:
    """The sealer of a service's webhook secrets: its current key and the older ones."""
    return KeyRing(current.get_secret_value(), [key.get_secret_value() for key in previous])


def secret_binding(webhook_id: uuid.UUID) -> bytes:
    """A sealed secret opens only in its own row."""
    return f"webhook/{webhook_id}".encode()


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


class WebhookService(Generic[W, D, A]):
    def __init__(
        self,
        session: AsyncSession,
        repository: WebhookRepository[W, D, A],
        sealer: Sealer,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        allow_private: bool,
    ) -> None:
        self.session = session
        self.repository = repository
        self.sealer = sealer
        self.audit = audit
        self.access = access
        self.allow_private = allow_private

    async def list_webhooks(self, *, limit: int, offset: int) -> tuple[Sequence[W], int]:
        return await self.repository.list_in_project(
            self.access.project_id, limit=limit, offset=offset
        )

    async def get(self, webhook_id: uuid.UUID) -> W:
        webhook = await self.repository.get_in_project(self.access.project_id, webhook_id)
        if webhook is None:
            raise WebhookNotFound(
                f"No webhook {webhook_id} in this project; GET /webhooks lists them."
            )
        return webhook

    def _check_url(self, url: str) -> None:
        try:
            check_url(url, allow_private=self.allow_private)
        except TargetRefused as exc:
            raise ValidationFailed(
                "Webhooks cannot be sent there.", errors=[FieldProblem("url", str(exc))]
            ) from exc

    async def create(self, webhook_create: WebhookCreateBase[Any]) -> tuple[W, str]:
        """The new webhook, and its secret (the one time it is shown)."""
        self._check_url(webhook_create.url)
        webhook_id = uuid.uuid4()
        secret = new_secret()
        webhook = build(
            self.repository.webhook,
            id=webhook_id,
            project_id=self.access.project_id,
            org_id=self.access.org_id,
            url=webhook_create.url,
            events=[event.value for event in webhook_create.events],
            enabled=webhook_create.enabled,
            description=webhook_create.description,
            secret_sealed=self.sealer.seal(secret, secret_binding(webhook_id)),
            created_by=self.access.principal.subject,
        )
        await self.repository.add(webhook)
        await self._record("webhook.create", webhook)
        return webhook, secret

    async def update(self, webhook_id: uuid.UUID, webhook_update: WebhookUpdateBase[Any]) -> W:
        webhook = await self.get(webhook_id)
        values = webhook_update.model_dump(exclude_unset=True)
        if "url" in values:
            self._check_url(values["url"])
        if "events" in values:
            values["events"] = list(dict.fromkeys(values["events"]))
        values["updated_at"] = datetime.now(UTC)
        await self.repository.save(webhook, values)
        await self._record("webhook.update", webhook)
        return webhook

    async def rotate_secret(
        self, webhook_id: uuid.UUID, keep_previous_seconds: int
    ) -> tuple[W, str]:
        """A new signing secret (shown this once); the old one signs too, beside it, for
        ``keep_previous_seconds`` (0: revoked at once, for a leaked secret)."""
        webhook = await self.get(webhook_id)
        secret = new_secret()
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "secret_sealed": self.sealer.seal(secret, secret_binding(webhook.id)),
            "previous_secret_sealed": None,
            "previous_secret_until": None,
            "updated_at": now,
        }
        if keep_previous_seconds > 0:
            values["previous_secret_sealed"] = webhook.secret_sealed
            values["previous_secret_until"] = now + timedelta(seconds=keep_previous_seconds)
        await self.repository.save(webhook, values)
        await self._record("webhook.rotate_secret", webhook)
        return webhook, secret

    async def delete(self, webhook_id: uuid.UUID) -> None:
        webhook = await self.get(webhook_id)
        await self._record("webhook.delete", webhook)
        await self.repository.delete(webhook)

    async def send_test(self, webhook_id: uuid.UUID) -> DeliveryRead:
        """A webhook.test event, delivered by the worker like any other."""
        webhook = await self.get(webhook_id)
        if not webhook.enabled:
            raise WebhookDisabled(
                f"Webhook {webhook_id} is disabled; PATCH it with enabled=true to test it."
            )
        now = datetime.now(UTC)
        payload = {
            "type": TEST_EVENT,
            "timestamp": now.isoformat().replace("+00:00", "Z"),
            "data": {"webhook_id": str(webhook.id), "project_id": str(webhook.project_id)},
        }
        delivery = await self.repository.enqueue(webhook, TEST_EVENT, payload, now)
        return DeliveryRead.model_validate(delivery)

    async def deliveries(
        self,
        webhook_id: uuid.UUID,
        *,
        state: DeliveryState | None,
        limit: int,
        offset: int,
    ) -> tuple[list[DeliveryRead], int]:
        webhook = await self.get(webhook_id)
        rows, total = await self.repository.deliveries(
            webhook.id, state=state.value if state else None, limit=limit, offset=offset
        )
        attempts: dict[uuid.UUID, list[AttemptRead]] = defaultdict(list)
        for attempt in await self.repository.attempts_of([row.id for row in rows]):
            attempts[attempt.delivery_id].append(AttemptRead.model_validate(attempt))
        items = [
            DeliveryRead.model_validate(row).model_copy(update={"attempt_log": attempts[row.id]})
            for row in rows
        ]
        return items, total

    async def _record(self, action: str, webhook: W) -> None:
        # The host, not the URL: a URL may carry the receiver's own token.
        details: dict[str, Any] = {"host": _host(webhook.url), "events": list(webhook.events)}
        await self.audit.record_in_project(
            self.session, self.access, action, "webhook", webhook.id, details
        )


def webhook_service(
    session: AsyncSession,
    repository: WebhookRepository[W, D, A],
    sealer: Sealer,
    settings: WebhookSettings,
    audit: AuditWriter,
    access: ProjectAccess,
) -> WebhookService[W, D, A]:
    """The webhook service of a request, under the service's webhook settings."""
    return WebhookService(
        session,
        repository,
        sealer,
        audit,
        access,
        allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
    )
