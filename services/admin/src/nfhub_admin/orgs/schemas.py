from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator, model_validator

from nfhub_shared.auth.principal import OrgRole
from nfhub_shared.schemas import ReadSchema, Schema

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"


class OrgCreate(Schema):
    slug: str = Field(pattern=SLUG_PATTERN, description="URL-safe short name, unique")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class OrgUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str | None:
        # Left out means "keep"; an explicit null would reach the NOT NULL column as a 409.
        if value is None:
            raise ValueError("name cannot be null; leave it out to keep the current name")
        return value


class OrgRead(ReadSchema):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class OrgWithRole(OrgRead):
    role: OrgRole = Field(description="The caller's role in this organisation")


class MemberAdd(Schema):
    """Name the user by id or by username."""

    user_id: uuid.UUID | None = None
    username: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_identifier(self) -> MemberAdd:
        if (self.user_id is None) == (self.username is None):
            raise ValueError("give exactly one of user_id or username")
        return self


class OrgMemberAdd(MemberAdd):
    role: OrgRole = OrgRole.member


class OrgMemberUpdate(Schema):
    role: OrgRole


class OrgMemberRead(ReadSchema):
    user_id: uuid.UUID
    username: str
    display_name: str | None
    role: OrgRole
    created_at: datetime
