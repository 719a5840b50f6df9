"""Members of an organisation or a project: the same shapes, with each scope's roles."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Self

from pydantic import Field, model_validator

from nfhub_shared.auth.principal import OrgRole, ProjectRole
from nfhub_shared.schemas import ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_admin.models import OrgMembership, ProjectMembership, User


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


class ProjectMemberAdd(MemberAdd):
    role: ProjectRole = ProjectRole.viewer


class OrgMemberUpdate(Schema):
    role: OrgRole


class ProjectMemberUpdate(Schema):
    role: ProjectRole


class MemberRead(ReadSchema):
    user_id: uuid.UUID
    username: str
    display_name: str | None
    role: str
    created_at: datetime

    @classmethod
    def of(cls, membership: OrgMembership | ProjectMembership, user: User) -> Self:
        """The membership with the user it is for (two rows, one answer)."""
        return read_model(cls, membership, username=user.username, display_name=user.display_name)


class OrgMemberRead(MemberRead):
    role: OrgRole


class ProjectMemberRead(MemberRead):
    role: ProjectRole
