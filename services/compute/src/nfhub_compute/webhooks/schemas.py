from __future__ import annotations

from enum import StrEnum

from nfhub_shared.webhooks.schemas import (
    WebhookCreateBase,
    WebhookCreatedBase,
    WebhookReadBase,
    WebhookUpdateBase,
)


class RunEvent(StrEnum):
    started = "run.started"  # INITIALIZING → RUNNING (a run heard from again is not started)
    completed = "run.completed"
    failed = "run.failed"  # EXECUTOR_ERROR or SYSTEM_ERROR
    canceled = "run.canceled"


class WebhookCreate(WebhookCreateBase[RunEvent]):
    pass


class WebhookUpdate(WebhookUpdateBase[RunEvent]):
    pass


class WebhookRead(WebhookReadBase[RunEvent]):
    pass


class WebhookCreated(WebhookCreatedBase[RunEvent]):
    pass
