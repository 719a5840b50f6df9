from __future__ import annotations

from enum import StrEnum

from nfhub_shared.webhooks.schemas import (
    WebhookCreateBase,
    WebhookCreatedBase,
    WebhookReadBase,
    WebhookUpdateBase,
)


class OrderEvent(StrEnum):
    transitioned = "order.transitioned"  # any move of an order's status


class WebhookCreate(WebhookCreateBase[OrderEvent]):
    pass


class WebhookUpdate(WebhookUpdateBase[OrderEvent]):
    pass


class WebhookRead(WebhookReadBase[OrderEvent]):
    pass


class WebhookCreated(WebhookCreatedBase[OrderEvent]):
    pass
