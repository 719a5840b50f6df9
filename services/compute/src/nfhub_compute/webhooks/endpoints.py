"""Webhooks of a project's run events: the shared routes (nfhub_shared.webhooks.endpoints)
over compute's schemas and service, under the runs scopes."""

from __future__ import annotations

from nfhub_compute.state import get_settings
from nfhub_compute.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from nfhub_compute.webhooks.service import run_webhook_service
from nfhub_shared.webhooks.endpoints import webhook_router

router = webhook_router(
    create_schema=WebhookCreate,
    update_schema=WebhookUpdate,
    read_schema=WebhookRead,
    created_schema=WebhookCreated,
    get_settings=get_settings,
    make_service=run_webhook_service,
    read_scope="runs:read",
    write_scope="runs:write",
    event_noun="run",
    deliverer="the worker",
)
