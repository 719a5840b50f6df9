from __future__ import annotations

import uuid
from typing import Any

from nfhub_admin.access.service import effective_project_role, require_org, require_project
from nfhub_admin.audit.service import record_project_event
from nfhub_admin.config import Settings
from nfhub_admin.models import Project
from nfhub_admin.projects.credentials import StsCredentialIssuer
from nfhub_admin.projects.errors import ProjectSlugTaken
from nfhub_admin.projects.repository import ProjectRepository
from nfhub_admin.projects.schemas import (
    ProjectCreate,
    ProjectUpdate,
    ProjectWithRole,
    StorageLocation,
    TemporaryCredentials,
)
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.db.session import AsyncSession


def project_prefix(project_id: uuid.UUID) -> str:
    return f"projects/{project_id}/"


def describe_storage(
    project_id: uuid.UUID, settings: Settings, credentials: TemporaryCredentials | None = None
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

    async def list_projects(
        self, principal: Principal, *, org_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[list[ProjectWithRole], int]:
        rows, total = await self.projects.list_visible(
            principal.user_id, org_id=org_id, limit=limit, offset=offset
        )
        items = []
        for project, project_role, org_role in rows:
            role = effective_project_role(project_role, org_role)
            assert role is not None  # the query only returns visible projects
            items.append(ProjectWithRole.of(project, role))
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

    async def get_project(self, principal: Principal, project_id: uuid.UUID) -> ProjectWithRole:
        project, role = await require_project(
            self.session, principal, project_id, ProjectRole.viewer
        )
        return ProjectWithRole.of(project, role)

    async def update_project(
        self, principal: Principal, project_id: uuid.UUID, project_update: ProjectUpdate
    ) -> ProjectWithRole:
        project, role = await require_project(
            self.session, principal, project_id, ProjectRole.admin
        )
        changes = project_update.model_dump(exclude_unset=True)
        await self.projects.update(project, changes)
        await self._audit("project.update", principal, project, {"fields": sorted(changes)})
        return ProjectWithRole.of(project, role)

    async def delete_project(self, principal: Principal, project_id: uuid.UUID) -> None:
        project, _ = await require_project(self.session, principal, project_id, ProjectRole.admin)
        await self._audit("project.delete", principal, project, {"slug": project.slug})
        await self.projects.delete(project)

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
                "storage.credentials", principal, project, {"access": credentials.access}
            )
        return describe_storage(project.id, settings, credentials)

    async def _audit(
        self, action: str, principal: Principal, project: Project, details: dict[str, Any]
    ) -> None:
        await record_project_event(self.audit, self.session, principal, action, project, details)
