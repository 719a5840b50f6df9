from __future__ import annotations

import uuid

from pydantic import Field, SecretStr

from nfhub_shared.auth.principal import OrgRole, ProjectRole
from nfhub_shared.schemas import ReadSchema, Schema


class IntrospectionRequest(Schema):
    token: SecretStr = Field(max_length=256)


class LoginSessionRequest(Schema):
    session_id: uuid.UUID


class LoginSessionStatus(ReadSchema):
    """Whether the login an access token names (its ``sid``) is still live."""

    session_id: uuid.UUID
    active: bool


class Introspection(ReadSchema):
    """RFC 7662-style answer about a personal access token."""

    active: bool
    sub: str | None = None
    username: str | None = None
    scope: str | None = None
    token_id: str | None = None


class ProjectAccessRequest(Schema):
    user_id: uuid.UUID
    project_id: uuid.UUID


class ProjectAccessAnswer(ReadSchema):
    project_id: uuid.UUID
    org_id: uuid.UUID | None = None
    role: ProjectRole | None = None
    # The user's role in the project's org (None for a project-only member): org-level
    # resources of other services (compute's org secrets) are an org admin's to change.
    org_role: OrgRole | None = None


class StorageLocationRequest(Schema):
    project_id: uuid.UUID


class WorkspaceRequest(Schema):
    workspace_id: int = Field(ge=1, le=2**63 - 1)


class WorkspaceProject(ReadSchema):
    """The project a workspace id (Nextflow's tower.workspaceId) names."""

    workspace_id: int
    project_id: uuid.UUID
