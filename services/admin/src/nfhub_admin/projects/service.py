from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.access.service import effective_project_role, require_org, require_project
from nfhub_admin.config import Settings
from nfhub_admin.models import Project, ProjectMembership, User
from nfhub_admin.orgs.errors import AlreadyMember
from nfhub_admin.orgs.repository import OrgMembershipRepository
from nfhub_admin.orgs.service import member_view, resolve_member_user
from nfhub_admin.projects.credentials import StsCredentialIssuer
from nfhub_admin.projects.errors import NotAnOrgMember, ProjectSlugTaken
from nfhub_admin.projects.repository import ProjectMembershipRepository, ProjectRepository
from nfhub_admin.projects.schemas import (
    ProjectCreate,
    ProjectMemberAdd,
    ProjectUpdate,
    StorageLocation,
)
from nfhub_admin.users.repository import UserRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.errors import NotFound

_PROJECT_FIELDS = ("id", "org_id", "slug", "name", "description", "created_at", "updated_at")


def project_view(project: Project, role: ProjectRole) -> dict[str, Any]:
    return {**{name: getattr(project, name) for name in _PROJECT_FIELDS}, "role": role}


def project_prefix(project_id: uuid.UUID) -> str:
    return f"projects/{project_id}/"


def describe_storage(
    project_id: uuid.UUID, settings: Settings, credentials: dict[str, Any] | None = None
) -> StorageLocation:
    """Where a project's objects live, from this deployment's storage settings."""
    prefix = project_prefix(project_id)
    if settings.STORAGE_BACKEND == "s3":
        uri = f"s3://{settings.STORAGE_BUCKET}/{prefix}"
    else:
        uri = f"{settings.STORAGE_LOCAL_ROOT.resolve().as_uri()}/{prefix}"
    return StorageLocation(
        project_id=project_id,
        backend=settings.STORAGE_BACKEND,
        bucket=settings.STORAGE_BUCKET if settings.STORAGE_BACKEND == "s3" else None,
        prefix=prefix,
        region=settings.STORAGE_REGION,
        endpoint_url=str(settings.STORAGE_ENDPOINT_URL) if settings.STORAGE_ENDPOINT_URL else None,
        uri=uri,
        credentials=credentials,
    )


class ProjectService:
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        self.session = session
        self.audit = audit
        self.projects = ProjectRepository(session)
        self.members = ProjectMembershipRepository(session)

    async def list_projects(
        self, principal: Principal, *, org_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        rows, total = await self.projects.list_visible(
            principal.user_id, org_id=org_id, limit=limit, offset=offset
        )
        items = []
        for project, project_role, org_role in rows:
            role = effective_project_role(project_role, org_role)
            assert role is not None  # the query only returns visible projects
            items.append(project_view(project, role))
        return items, total

    async def create_project(self, principal: Principal, project_create: ProjectCreate) -> Project:
        org, _ = await require_org(self.session, principal, project_create.org_id, OrgRole.admin)
        if await self.projects.get_by_slug(org.id, project_create.slug) is not None:
            raise ProjectSlugTaken(
                f"Organisation {org.slug} already has a project {project_create.slug!r}."
            )
        project = await self.projects.add(Project(**project_create.model_dump()))
        await self._audit("project.create", principal, project, {"slug": project.slug})
        return project

    async def get_project(self, principal: Principal, project_id: uuid.UUID) -> dict[str, Any]:
        project, role = await require_project(
            self.session, principal, project_id, ProjectRole.viewer
        )
        return project_view(project, role)

    async def update_project(
        self, principal: Principal, project_id: uuid.UUID, project_update: ProjectUpdate
    ) -> dict[str, Any]:
        project, role = await require_project(
            self.session, principal, project_id, ProjectRole.admin
        )
        changes = project_update.model_dump(exclude_unset=True)
        await self.projects.update(project, changes)
        await self._audit("project.update", principal, project, {"fields": sorted(changes)})
        return project_view(project, role)

    async def delete_project(self, principal: Principal, project_id: uuid.UUID) -> None:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        await self._audit("project.delete", principal, project, {"slug": project.slug})
        await self.projects.delete(project)

    async def list_members(
        self, principal: Principal, project_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int]:
        await require_project(self.session, principal, project_id, ProjectRole.viewer)
        rows, total = await self.members.list_members(project_id, limit=limit, offset=offset)
        return [member_view(membership, user) for membership, user in rows], total

    async def add_member(
        self, principal: Principal, project_id: uuid.UUID, member_add: ProjectMemberAdd
    ) -> dict[str, Any]:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        user = await resolve_member_user(self.session, member_add)
        org_membership = await OrgMembershipRepository(self.session).get_membership(
            project.org_id, user.id
        )
        if org_membership is None:
            raise NotAnOrgMember(
                f"{user.username} is not a member of this project's organisation; add them "
                "to the organisation first."
            )
        if await self.members.get_membership(project.id, user.id) is not None:
            raise AlreadyMember(
                f"{user.username} is already a member of {project.slug}; change their role."
            )
        membership = await self.members.add(
            ProjectMembership(project_id=project.id, user_id=user.id, role=member_add.role.value)
        )
        await self._audit(
            "project.member.add",
            principal,
            project,
            {"user_id": str(user.id), "role": member_add.role.value},
        )
        return member_view(membership, user)

    async def change_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID, role: ProjectRole
    ) -> dict[str, Any]:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        membership, user = await self._membership(project.id, user_id)
        await self.members.update(membership, {"role": role.value})
        await self._audit(
            "project.member.update",
            principal,
            project,
            {"user_id": str(user_id), "role": role.value},
        )
        return member_view(membership, user)

    async def remove_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        minimum = ProjectRole.viewer if user_id == principal.user_id else ProjectRole.admin
        project, _ = await require_project(self.session, principal, project_id, minimum)
        membership, _ = await self._membership(project.id, user_id)
        await self.members.delete(membership)
        await self._audit("project.member.remove", principal, project, {"user_id": str(user_id)})

    async def storage_location(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        settings: Settings,
        issuer: StsCredentialIssuer | None,
    ) -> StorageLocation:
        project, role = await require_project(
            self.session, principal, project_id, ProjectRole.viewer
        )
        credentials = None
        if settings.STORAGE_BACKEND == "s3" and issuer is not None:
            credentials = await issuer.issue(
                project.id, project_prefix(project.id), role, principal.user_id
            )
            await self._audit(
                "storage.credentials", principal, project, {"access": credentials["access"]}
            )
        return describe_storage(project.id, settings, credentials)

    async def _membership(
        self, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[ProjectMembership, User]:
        membership = await self.members.get_membership(project_id, user_id)
        if membership is None:
            raise NotFound(f"User {user_id} is not a member of this project.")
        user = await UserRepository(self.session).get(user_id)
        assert user is not None
        return membership, user

    async def _audit(
        self, action: str, principal: Principal, project: Project, details: dict[str, Any]
    ) -> None:
        await self.audit.record(
            self.session,
            actor=principal,
            action=action,
            resource_type="project",
            resource_id=project.id,
            org_id=project.org_id,
            project_id=project.id,
            details=details,
        )
