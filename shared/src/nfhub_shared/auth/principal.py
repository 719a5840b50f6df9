from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

PrincipalKind = Literal["user", "pat", "service"]


class ProjectRole(StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return _PROJECT_ROLE_RANK[self]

    def allows(self, required: ProjectRole) -> bool:
        return self.rank >= required.rank


_PROJECT_ROLE_RANK = {ProjectRole.viewer: 1, ProjectRole.editor: 2, ProjectRole.admin: 3}


class OrgRole(StrEnum):
    member = "member"
    admin = "admin"
    owner = "owner"

    @property
    def rank(self) -> int:
        return _ORG_ROLE_RANK[self]

    def allows(self, required: OrgRole) -> bool:
        return self.rank >= required.rank


_ORG_ROLE_RANK = {OrgRole.member: 1, OrgRole.admin: 2, OrgRole.owner: 3}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user (JWT), a user through a personal access token, or a service."""

    subject: str
    kind: PrincipalKind
    scopes: frozenset[str] = field(default_factory=frozenset)
    username: str | None = None
    token_id: str | None = None
    # The login an access token belongs to (its ``sid``): refused once that login ends.
    session_id: str | None = None

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.UUID(self.subject)

    def has_scopes(self, required: list[str]) -> bool:
        return all(scope in self.scopes for scope in required)


@dataclass(frozen=True)
class ProjectAccess:
    """The caller's role in the project named by X-Project-ID."""

    principal: Principal
    project_id: uuid.UUID
    org_id: uuid.UUID
    role: ProjectRole
    org_role: OrgRole | None = None  # None: a member of the project only

    def is_org_admin(self) -> bool:
        return self.org_role is not None and self.org_role.allows(OrgRole.admin)
