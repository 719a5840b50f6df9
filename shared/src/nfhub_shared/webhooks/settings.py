"""The settings of webhook delivery, the same in every service that sends them (each reads
them with its own prefix: COMPUTE_WEBHOOK_…, MINER_WEBHOOK_…)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nfhub_shared.webhooks.http import DeliveryPolicy
from nfhub_shared.webhooks.schedule import DEFAULT_SCHEDULE


class WebhookSettings(BaseModel):
    # Seconds between attempts after each failure (each ±20 %, jitter); after the last, the
    # delivery is FAILED. A JSON list.
    WEBHOOK_RETRY_SCHEDULE: list[float] = Field(
        default_factory=lambda: list(DEFAULT_SCHEDULE), max_length=30
    )
    # Allow targets on loopback, private, link-local and CGNAT addresses (a LIMS on the
    # lab's own network). Off: such targets are refused at create and at delivery.
    WEBHOOK_ALLOW_PRIVATE_TARGETS: bool = False
    WEBHOOK_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=60)
    WEBHOOK_TIMEOUT_SECONDS: float = Field(default=15.0, gt=0, le=300)
    # The most of a receiver's answer read (the rest is not); the first KiB is recorded.
    WEBHOOK_MAX_RESPONSE_BYTES: int = Field(default=64 * 1024, ge=1024)
    # The delivery loop also looks for due deliveries this often (NOTIFY wakes it sooner).
    WEBHOOK_SWEEP_SECONDS: float = Field(default=10.0, gt=0, le=3600)

    def webhook_policy(self) -> DeliveryPolicy:
        return DeliveryPolicy(
            schedule=tuple(self.WEBHOOK_RETRY_SCHEDULE),
            allow_private=self.WEBHOOK_ALLOW_PRIVATE_TARGETS,
            connect_timeout=self.WEBHOOK_CONNECT_TIMEOUT_SECONDS,
            timeout=self.WEBHOOK_TIMEOUT_SECONDS,
            max_response_bytes=self.WEBHOOK_MAX_RESPONSE_BYTES,
        )
