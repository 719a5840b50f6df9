"""The columns of a service's webhook tables (each service maps them in its own schema):
``webhooks``, the ``webhook_deliveries`` outbox, and ``webhook_attempts``. A service's models
are ``class Webhook(WebhookColumns, Base)`` and so on: the mixins carry the table names and
indexes too (migration.create_tables makes the same ones)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from nfhub_shared.db.base import IdMixin, RecordMixin


def outbox_channel(schema: str) -> str:
    """The NOTIFY channel that wakes a service's delivery loop."""
    return f"nfhub_webhooks_{schema}"


class DeliveryState(StrEnum):
    PENDING = "PENDING"  # due at next_attempt_at
    SUCCEEDED = "SUCCEEDED"  # a 2xx answer
    FAILED = "FAILED"  # every attempt of the schedule failed


class WebhookColumns(RecordMixin):
    """Where a project's events go, which ones, and the (sealed) signing secret."""

    __tablename__ = "webhooks"

    project_id: Mapped[uuid.UUID] = mapped_column(index=True)
    org_id: Mapped[uuid.UUID]
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    enabled: Mapped[bool] = mapped_column(default=True)
    description: Mapped[str | None] = mapped_column(Text)
    # The whsec_ secret, encrypted with the service's key, bound to the row's id.
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation, the secret before it, still signing (beside the new one) until then.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))


class DeliveryColumns(RecordMixin):
    """One event for one webhook (the outbox row), written in the transaction of the change."""

    __tablename__ = "webhook_deliveries"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Index, ...]:
        # New Index objects for each service's table (an Index belongs to one table).
        return (
            Index(None, "webhook_id", "created_at"),
            Index(None, "webhook_id", "state", "created_at"),
            Index("ix_webhook_deliveries_due", "next_attempt_at",
                  postgresql_where=text("state = 'PENDING'")),
        )  # fmt: skip

    @declared_attr
    @classmethod
    def webhook_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))

    project_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def message_id(self) -> str:
        """The webhook-id header: the same on every attempt, for receivers to deduplicate."""
        return f"msg_{self.id.hex}"


class AttemptColumns(IdMixin):
    """One try of a delivery, and what the receiver answered."""

    __tablename__ = "webhook_attempts"

    @declared_attr.directive
    @classmethod
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index(None, "delivery_id", "number"),)

    @declared_attr
    @classmethod
    def delivery_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))

    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    ok: Mapped[bool] = mapped_column(default=False)
