from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from nfhub_admin.orgs.schemas import SLUG_PATTERN, MemberAdd
from nfhub_shared.auth.principal import ProjectRole
from nfhub_shared.schemas import ReadSchema, Schema


class ProjectCreate(Schema):
    org_id: uuid.UUID
    slug: str = Field(pattern=SLUG_PATTERN, description="URL-safe short name, unique in the org")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str | None:
        # Left out means "keep"; an explicit null would reach the NOT NULL column as a 409.
        if value is None:
            raise ValueError("name cannot be null; leave it out to keep the current name")
        return value


class ProjectRead(ReadSchema):
    id: uuid.UUID
    org_id: uuid.UUID
    slug: str
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ProjectWithRole(ProjectRead):
    role: ProjectRole = Field(description="The caller's effective role in this project")


class ProjectMemberAdd(MemberAdd):
    role: ProjectRole = ProjectRole.viewer


class ProjectMemberUpdate(Schema):
    role: ProjectRole


class ProjectMemberRead(ReadSchema):
    user_id: uuid.UUID
    username: str
    display_name: str | None
    role: ProjectRole
    created_at: datetime


class TemporaryCredentials(ReadSchema):
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: datetime
    access: Literal["read", "read-write"] = Field(
        description="read for viewers; read-write for editors and admins"
    )


class StorageLocation(ReadSchema):
    """Where the project's files live. Never a long-lived secret."""

    project_id: uuid.UUID
    backend: Literal["local", "s3"]
    bucket: str | None
    prefix: str = Field(description="Every object of the project lives under this prefix")
    region: str | None
    endpoint_url: str | None
    uri: str = Field(description="The prefix as a URI (s3://bucket/prefix or file:///root/prefix)")
    credentials: TemporaryCredentials | None = Field(
        default=None,
        description="Short-lived credentials limited to the prefix (S3 with an STS role "
        "configured); null otherwise: use signed URLs from the files service",
    )
