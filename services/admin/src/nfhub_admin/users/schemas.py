from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field, SecretStr

from nfhub_shared.auth.principal import OrgRole
from nfhub_shared.schemas import ReadSchema, Schema

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{1,62}$"


class UserRead(ReadSchema):
    id: uuid.UUID
    username: str
    email: str | None
    display_name: str | None
    is_active: bool
    is_platform_admin: bool = Field(
        description="May publish pipelines every organisation sees (set by configuration)."
    )
    created_at: datetime
    last_login_at: datetime | None


class UserSummary(ReadSchema):
    id: uuid.UUID
    username: str
    display_name: str | None


class UserCreate(Schema):
    username: str = Field(pattern=USERNAME_PATTERN, description="Lower-case login name")
    email: EmailStr | None = None
    display_name: str | None = Field(default=None, max_length=200)
    password: SecretStr | None = Field(
        default=None, description="At least 12 characters; omit for OpenID-only users"
    )
    org_id: uuid.UUID = Field(description="The organisation the user joins")
    org_role: OrgRole = OrgRole.member


class DefaultContext(ReadSchema):
    org_id: uuid.UUID | None
    project_id: uuid.UUID | None


class DefaultContextUpdate(Schema):
    org_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
