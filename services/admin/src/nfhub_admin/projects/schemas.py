from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from nfhub_admin.orgs.schemas import SLUG_PATTERN, NameUpdate
from nfhub_shared.auth.principal import ProjectRole
from nfhub_shared.schemas import ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_admin.models import Project


class ProjectCreate(Schema):
    org_id: uuid.UUID
    slug: str = Field(pattern=SLUG_PATTERN, description="URL-safe short name, unique in the org")
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectUpdate(NameUpdate):
    pass


class ProjectRead(ReadSchema):
    id: uuid.UUID
    org_id: uuid.UUID
    slug: str
    name: str
    description: str | None
    workspace_id: int = Field(
        description="The number Nextflow's Tower client names this project by "
        "(tower.workspaceId / TOWER_WORKSPACE_ID)"
    )
    created_at: datetime
    updated_at: datetime


class ProjectWithRole(ProjectRead):
    role: ProjectRole = Field(description="The caller's effective role in this project")

    @classmethod
    def of(cls, project: Project, role: ProjectRole) -> ProjectWithRole:
        return read_model(cls, project, role=role)


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
