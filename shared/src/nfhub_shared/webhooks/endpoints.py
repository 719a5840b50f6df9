"""The webhook routes, the same in every service that sends webhooks: `webhook_router` makes
them over the service's schemas (their names are the OpenAPI schema names), its settings, its
service factory and its scopes. Editors (and admins) manage webhooks and are the only ones who
see them: a webhook URL often carries the receiver's own credential."""

# No `from __future__ import annotations`: the routes are made inside `webhook_router`, and
# FastAPI reads their annotations, which name its arguments, at definition time.

import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_shared.audit import AuditDep, AuditWriter
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSession, AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of
from nfhub_shared.schemas import read_model
from nfhub_shared.webhooks.models import DeliveryState, WebhookColumns
from nfhub_shared.webhooks.schemas import (
    DeliveryRead,
    WebhookCreateBase,
    WebhookCreatedBase,
    WebhookReadBase,
    WebhookUpdateBase,
)
from nfhub_shared.webhooks.service import WebhookService

MAX_KEEP_PREVIOUS_SECONDS = 7 * 86400

S = TypeVar("S")
AnyWebhookService = WebhookService[Any, Any, Any]


def webhook_router(
    *,
    create_schema: type[WebhookCreateBase[Any]],
    update_schema: type[WebhookUpdateBase[Any]],
    read_schema: type[WebhookReadBase[Any]],
    created_schema: type[WebhookCreatedBase[Any]],
    get_settings: Callable[..., Any],
    make_service: Callable[[AsyncSession, S, AuditWriter, ProjectAccess], AnyWebhookService],
    read_scope: str,
    write_scope: str,
    event_noun: str,
    deliverer: str,
) -> APIRouter:
    """The `/webhooks` routes of a service. `get_settings` is the service's settings
    dependency, handed to `make_service`; `event_noun` ("run") and `deliverer` ("the worker")
    go into the routes' descriptions."""
    router = APIRouter(prefix="/webhooks", tags=["webhooks"])
    settings_dep = Depends(get_settings)

    def service_of(scope: str) -> Callable[..., Awaitable[AnyWebhookService]]:
        access_dep = project_role(ProjectRole.editor, scope)

        async def dependency(
            settings: Annotated[Any, settings_dep],
            session: AsyncSessionDep,
            audit: AuditDep,
            access: Annotated[ProjectAccess, access_dep],
        ) -> AnyWebhookService:
            return make_service(session, settings, audit, access)

        return dependency

    get_reader = service_of(read_scope)
    get_editor = service_of(write_scope)

    async def list_webhooks(
        request: Request,
        response: Response,
        page: PageParamsDep,
        webhooks: Annotated[AnyWebhookService, Depends(get_reader)],
    ) -> Page[WebhookReadBase[Any]]:
        """The project's webhooks (never their secrets)."""
        rows, count = await webhooks.list_webhooks(limit=page.limit, offset=page.offset)
        items = [read_schema.model_validate(row) for row in rows]
        return page_of(request, response, page, items, count)

    async def create_webhook(
        webhook_create: create_schema,  # type: ignore[valid-type]
        request: Request,
        response: Response,
        webhooks: Annotated[AnyWebhookService, Depends(get_editor)],
    ) -> WebhookCreatedBase[Any]:
        webhook, secret = await webhooks.create(webhook_create)
        response.headers["Location"] = str(request.url_for("get_webhook", webhook_id=webhook.id))
        return read_model(created_schema, webhook, secret=secret)

    create_webhook.__doc__ = (
        f"Send the project's {event_noun} events to a URL; the answer holds the signing "
        "secret, shown\nthis once."
    )

    async def get_webhook(
        webhook_id: uuid.UUID,
        webhooks: Annotated[AnyWebhookService, Depends(get_reader)],
    ) -> WebhookColumns:
        """One webhook (never its secret)."""
        webhook: WebhookColumns = await webhooks.get(webhook_id)
        return webhook

    async def update_webhook(
        webhook_id: uuid.UUID,
        webhook_update: update_schema,  # type: ignore[valid-type]
        webhooks: Annotated[AnyWebhookService, Depends(get_editor)],
    ) -> WebhookColumns:
        """Change a webhook's URL, events, description, or turn it off and on."""
        webhook: WebhookColumns = await webhooks.update(webhook_id, webhook_update)
        return webhook

    async def rotate_webhook_secret(
        webhook_id: uuid.UUID,
        webhooks: Annotated[AnyWebhookService, Depends(get_editor)],
        keep_previous_seconds: Annotated[
            int,
            Query(
                ge=0,
                le=MAX_KEEP_PREVIOUS_SECONDS,
                description="How long the previous secret keeps signing beside the new one (0: "
                "revoke it at once, for a leaked secret)",
            ),
        ] = 86400,
    ) -> WebhookCreatedBase[Any]:
        """A new signing secret, shown this once; deliveries carry both signatures meanwhile."""
        webhook, secret = await webhooks.rotate_secret(webhook_id, keep_previous_seconds)
        return read_model(created_schema, webhook, secret=secret)

    async def delete_webhook(
        webhook_id: uuid.UUID,
        webhooks: Annotated[AnyWebhookService, Depends(get_editor)],
    ) -> None:
        """Delete a webhook and its deliveries (pending ones are not sent)."""
        await webhooks.delete(webhook_id)

    async def list_webhook_deliveries(
        webhook_id: uuid.UUID,
        request: Request,
        response: Response,
        page: PageParamsDep,
        webhooks: Annotated[AnyWebhookService, Depends(get_reader)],
        state: Annotated[
            DeliveryState | None, Query(description="Only deliveries in this state")
        ] = None,
    ) -> Page[DeliveryRead]:
        """The webhook's deliveries, newest first, each with its attempts."""
        items, count = await webhooks.deliveries(
            webhook_id, state=state, limit=page.limit, offset=page.offset
        )
        return page_of(request, response, page, items, count)

    async def test_webhook(
        webhook_id: uuid.UUID,
        webhooks: Annotated[AnyWebhookService, Depends(get_editor)],
    ) -> DeliveryRead:
        result: DeliveryRead = await webhooks.send_test(webhook_id)
        return result

    test_webhook.__doc__ = (
        f"Queue a webhook.test event to the webhook; {deliverer} delivers it (see /deliveries)."
    )

    page_schema = Page[read_schema]  # type: ignore[valid-type]
    router.add_api_route("", list_webhooks, methods=["GET"], response_model=page_schema)
    router.add_api_route(
        "",
        create_webhook,
        methods=["POST"],
        response_model=created_schema,
        status_code=status.HTTP_201_CREATED,
    )
    router.add_api_route("/{webhook_id}", get_webhook, methods=["GET"], response_model=read_schema)
    router.add_api_route(
        "/{webhook_id}", update_webhook, methods=["PATCH"], response_model=read_schema
    )
    router.add_api_route(
        "/{webhook_id}/rotate-secret",
        rotate_webhook_secret,
        methods=["POST"],
        response_model=created_schema,
    )
    router.add_api_route(
        "/{webhook_id}",
        delete_webhook,
        methods=["DELETE"],
        status_code=status.HTTP_204_NO_CONTENT,
    )
    router.add_api_route(
        "/{webhook_id}/deliveries",
        list_webhook_deliveries,
        methods=["GET"],
        response_model=Page[DeliveryRead],
    )
    router.add_api_route(
        "/{webhook_id}/test",
        test_webhook,
        methods=["POST"],
        response_model=DeliveryRead,
        status_code=status.HTTP_202_ACCEPTED,
    )
    return router
