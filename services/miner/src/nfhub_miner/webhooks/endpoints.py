"""Webhooks of a project's order events: the shared routes (nfhub_shared.webhooks.endpoints)
over miner's schemas and service, under the samples scopes."""

from __future__ import annotations

from nfhub_miner.state import get_settings
from nfhub_miner.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from nfhub_miner.webhooks.service import order_webhook_service
from nfhub_shared.webhooks.endpoints import webhook_router

router = webhook_router(
    create_schema=WebhookCreate,
    update_schema=WebhookUpdate,
    read_schema=WebhookRead,
    created_schema=WebhookCreated,
    get_settings=get_settings,
    make_service=order_webhook_service,
    read_scope="samples:read",
    write_scope="samples:write",
    event_noun="order",
    deliverer="miner",
)
