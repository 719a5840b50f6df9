from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

from nfhub_shared.auth.principal import OrgRole
from nfhub_shared.schemas import Omittable, ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_admin.models import Org

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class OrgCreate(Schema):
    slug: str = Field(pattern=SLUG_PATTERN, description="URL-safe short name, unique")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class NameUpdate(Schema):
    """A new name or description (of an organisation or a project)."""

    # Left out keeps the name; null is refused (the column is NOT NULL) and not offered.
    name: Omittable[Annotated[str, Field(min_length=1, max_length=200)]] = None
    description: str | None = Field(default=None, max_length=10_000)


class OrgUpdate(NameUpdate):
    pass


class OrgRead(ReadSchema):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class OrgWithRole(OrgRead):
    role: OrgRole = Field(description="The caller's role in this organisation")

    @classmethod
    def of(cls, org: Org, role: OrgRole) -> OrgWithRole:
        return read_model(cls, org, role=role)
