from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from nfhub_shared.schemas import IsoDateTime, ReadSchema


class AuditEventRead(ReadSchema):
    id: uuid.UUID
    occurred_at: datetime
    actor_id: str | None
    actor_kind: str
    action: str
    resource_type: str
    resource_id: str | None
    org_id: uuid.UUID | None
    project_id: uuid.UUID | None
    request_id: str | None
    details: dict[str, Any]


class AuditFilters(ReadSchema):
    """Query filters (other query parameters such as limit and offset pass through)."""

    org_id: uuid.UUID = Field(description="The organisation (you must administer it)")
    actor_id: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=64)
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: str | None = Field(default=None, max_length=64)
    occurred_after: IsoDateTime | None = None
    occurred_before: IsoDateTime | None = None
