"""The API's shapes of webhooks, generic in the events a service sends: each service
subclasses them with its own event enum (so each OpenAPI document lists its own events)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import Field, StrictBool, field_validator

from nfhub_shared.schemas import Omittable, ReadSchema, Schema
from nfhub_shared.webhooks.models import DeliveryState

EventT = TypeVar("EventT", bound=StrEnum)

MAX_URL_LENGTH = 2000
TEST_EVENT = "webhook.test"

WebhookUrl = Annotated[
    str,
    Field(
        min_length=8,
        max_length=MAX_URL_LENGTH,
        pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#]+[^\s]*$",
        description="Where events are POSTed (https:// or http://); private, loopback and "
        "link-local addresses are refused unless the server allows them",
        examples=["https://lims.example.org/hooks/nfhub"],
    ),
]
Description = Annotated[str, Field(max_length=500)]


class WebhookCreateBase(Schema, Generic[EventT]):
    url: WebhookUrl
    events: list[EventT] = Field(min_length=1, max_length=16, description="Events to send")
    enabled: StrictBool = True
    description: Description | None = None

    @field_validator("events")
    @classmethod
    def _distinct(cls, events: list[EventT]) -> list[EventT]:
        return list(dict.fromkeys(events))


class WebhookUpdateBase(Schema, Generic[EventT]):
    url: Omittable[WebhookUrl] = None
    events: Omittable[list[EventT]] = Field(default=None, min_length=1, max_length=16)
    enabled: Omittable[StrictBool] = None
    # null clears the description.
    description: Description | None = None


class WebhookReadBase(ReadSchema, Generic[EventT]):
    id: uuid.UUID
    url: str
    events: list[EventT]
    enabled: bool
    description: str | None
    previous_secret_until: datetime | None = Field(
        description="After a secret rotation: the previous secret also signs until then"
    )
    created_by: str
    created_at: datetime
    updated_at: datetime


class WebhookCreatedBase(WebhookReadBase[EventT], Generic[EventT]):
    secret: str = Field(
        description="The signing secret (Standard Webhooks, whsec_…): shown this once only "
        "(at creation, and at each rotation)",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class AttemptRead(ReadSchema):
    number: int
    started_at: datetime
    duration_ms: int
    status_code: int | None
    response_excerpt: str | None = Field(description="The start of the receiver's answer")
    error: str | None
    ok: bool


class DeliveryRead(ReadSchema):
    id: uuid.UUID
    webhook_id: uuid.UUID
    message_id: str = Field(description="The webhook-id header, the same on every attempt")
    event_type: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    payload: dict[str, Any]
    attempt_log: list[AttemptRead] = Field(default_factory=list, description="Oldest first")
