"""Who may do what: org roles (owner/admin/member) and project roles (viewer/editor/admin).

Org owners and admins are admins of every project in their org. Anything a caller cannot
see answers 404, so ids never reveal what exists in another org.
"""

from __future__ import annotations

import uuid

from nfhub_admin.access.repository import AccessRepository
from nfhub_admin.models import Org, Project
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import Forbidden, NotFound


def effective_project_role(project_role: str | None, org_role: str | None) -> ProjectRole | None:
    if org_role is not None and OrgRole(org_role).allows(OrgRole.admin):
        return ProjectRole.admin
    return ProjectRole(project_role) if project_role is not None else None


async def require_org(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, minimum: OrgRole
) -> tuple[Org, OrgRole]:
    found = await AccessRepository(session).org_with_role(principal.user_id, org_id)
    if found is None:
        raise NotFound(f"Organisation {org_id} does not exist or you are not a member.")
    org, role_name = found
    role = OrgRole(role_name)
    if not role.allows(minimum):
        raise Forbidden(
            f"This needs the {minimum.value} role in organisation {org.slug}; you are {role.value}."
        )
    return org, role


async def project_roles_of(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> tuple[Project, ProjectRole, OrgRole | None] | None:
    """The project, the user's effective role in it and their role in its org (None when
    they only belong to the project), or None when they cannot see it."""
    found = await AccessRepository(session).project_with_roles(user_id, project_id)
    if found is None:
        return None
    project, project_role, org_role = found
    role = effective_project_role(project_role, org_role)
    if role is None:
        return None
    return project, role, OrgRole(org_role) if org_role is not None else None


async def project_role_of(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> tuple[Project, ProjectRole] | None:
    found = await project_roles_of(session, user_id, project_id)
    return (found[0], found[1]) if found is not None else None


async def require_project(
    session: AsyncSession, principal: Principal, project_id: uuid.UUID, minimum: ProjectRole
) -> tuple[Project, ProjectRole]:
    found = await project_role_of(session, principal.user_id, project_id)
    if found is None:
        raise NotFound(f"Project {project_id} does not exist or you cannot see it.")
    project, role = found
    if not role.allows(minimum):
        raise Forbidden(
            f"This needs the {minimum.value} role in project {project.slug}; you are "
            f"{role.value}. Ask a project admin."
        )
    return project, role
