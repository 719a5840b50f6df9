"""Webhooks of a project's order events. Editors (and admins) manage them and are the only ones
who see them: a webhook URL often carries the receiver's own credential."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_miner.models import Webhook
from nfhub_miner.state import SettingsDep
from nfhub_miner.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from nfhub_miner.webhooks.service import OrderWebhookService, order_webhook_service
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of
from nfhub_shared.schemas import read_model
from nfhub_shared.webhooks.models import DeliveryState
from nfhub_shared.webhooks.schemas import DeliveryRead

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
MAX_KEEP_PREVIOUS_SECONDS = 7 * 86400

WebhooksReader = Annotated[ProjectAccess, project_role(ProjectRole.editor, "samples:read")]
WebhooksEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor, "samples:write")]


async def get_reader(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: WebhooksReader
) -> OrderWebhookService:
    return order_webhook_service(session, settings, audit, access)


async def get_editor(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: WebhooksEditor
) -> OrderWebhookService:
    return order_webhook_service(session, settings, audit, access)


Reader = Annotated[OrderWebhookService, Depends(get_reader)]
Editor = Annotated[OrderWebhookService, Depends(get_editor)]


@router.get("", response_model=Page[WebhookRead])
async def list_webhooks(
    request: Request, response: Response, page: PageParamsDep, webhooks: Reader
) -> Page[WebhookRead]:
    """The project's webhooks (never their secrets)."""
    rows, count = await webhooks.list_webhooks(limit=page.limit, offset=page.offset)
    items = [WebhookRead.model_validate(row) for row in rows]
    return page_of(request, response, page, items, count)


@router.post("", response_model=WebhookCreated, status_code=status.HTTP_201_CREATED)
async def create_webhook(
    webhook_create: WebhookCreate, request: Request, response: Response, webhooks: Editor
) -> WebhookCreated:
    """Send the project's order events to a URL; the answer holds the signing secret, shown
    this once."""
    webhook, secret = await webhooks.create(webhook_create)
    response.headers["Location"] = str(request.url_for("get_webhook", webhook_id=webhook.id))
    return read_model(WebhookCreated, webhook, secret=secret)


@router.get("/{webhook_id}", response_model=WebhookRead)
async def get_webhook(webhook_id: uuid.UUID, webhooks: Reader) -> Webhook:
    """One webhook (never its secret)."""
    return await webhooks.get(webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookRead)
async def update_webhook(
    webhook_id: uuid.UUID, webhook_update: WebhookUpdate, webhooks: Editor
) -> Webhook:
    """Change a webhook's URL, events, description, or turn it off and on."""
    return await webhooks.update(webhook_id, webhook_update)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookCreated)
async def rotate_webhook_secret(
    webhook_id: uuid.UUID,
    webhooks: Editor,
    keep_previous_seconds: Annotated[
        int,
        Query(
            ge=0,
            le=MAX_KEEP_PREVIOUS_SECONDS,
            description="How long the previous secret keeps signing beside the new one (0: "
            "revoke it at once, for a leaked secret)",
        ),
    ] = 86400,
) -> WebhookCreated:
    """A new signing secret, shown this once; deliveries carry both signatures meanwhile."""
    webhook, secret = await webhooks.rotate_secret(webhook_id, keep_previous_seconds)
    return read_model(WebhookCreated, webhook, secret=secret)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, webhooks: Editor) -> None:
    """Delete a webhook and its deliveries (pending ones are not sent)."""
    await webhooks.delete(webhook_id)


@router.get("/{webhook_id}/deliveries", response_model=Page[DeliveryRead])
async def list_webhook_deliveries(
    webhook_id: uuid.UUID,
    request: Request,
    response: Response,
    page: PageParamsDep,
    webhooks: Reader,
    state: Annotated[DeliveryState | None, Query(description="Only deliveries in this state")] = (
        None
    ),
) -> Page[DeliveryRead]:
    """The webhook's deliveries, newest first, each with its attempts."""
    items, count = await webhooks.deliveries(
        webhook_id, state=state, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.post(
    "/{webhook_id}/test", response_model=DeliveryRead, status_code=status.HTTP_202_ACCEPTED
)
async def test_webhook(webhook_id: uuid.UUID, webhooks: Editor) -> DeliveryRead:
    """Queue a webhook.test event to the webhook; miner delivers it (see /deliveries)."""
    return await webhooks.send_test(webhook_id)
