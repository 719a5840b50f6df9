from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, field_validator

from nfhub_shared.auth.scopes import ALL_SCOPES
from nfhub_shared.schemas import ReadSchema, Schema

# The enum is the document's; the validator below gives the friendlier message.
ScopeName = Annotated[str, Field(json_schema_extra={"enum": sorted(ALL_SCOPES)})]


class TokenCreate(Schema):
    name: str = Field(min_length=1, max_length=100, description="Unique among your active tokens")
    expires_in_days: int | None = Field(
        default=None, ge=1, le=3650, description="Omit for a token that does not expire"
    )
    scopes: list[ScopeName] | None = Field(
        default=None, description="Defaults to every scope your current token has"
    )

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        unknown = sorted(set(value) - ALL_SCOPES)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(unknown)}")
        return sorted(set(value))


class TokenRead(ReadSchema):
    id: uuid.UUID
    name: str
    token_hint: str = Field(description="The token's first characters, to recognise it")
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    token: str = Field(description="The token itself: shown once, store it now")


class TokensRevoked(ReadSchema):
    revoked: int
