"""What other nfhub services ask admin: who a token is, what a user may do in a project,
where a project's files live. The callers are services, so nothing here authorises a user."""

from __future__ import annotations

import uuid

from nfhub_admin.access.service import project_roles_of
from nfhub_admin.auth.repository import RefreshTokenRepository
from nfhub_admin.config import Settings
from nfhub_admin.internal.schemas import (
    Introspection,
    LoginSessionStatus,
    ProjectAccessAnswer,
    WorkspaceProject,
)
from nfhub_admin.projects.repository import ProjectRepository
from nfhub_admin.projects.schemas import StorageLocation
from nfhub_admin.projects.service import describe_storage
from nfhub_admin.tokens.service import TokenService
from nfhub_shared.audit import AuditWriter
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import NotFound


class InternalQueries:
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        self.session = session
        self.audit = audit

    async def introspect(self, secret: str) -> Introspection:
        """RFC 7662's answer: who the personal access token is, or inactive."""
        principal = await TokenService(self.session, self.audit).introspect(secret)
        if principal is None:
            return Introspection(active=False)
        return Introspection(
            active=True,
            sub=principal.subject,
            username=principal.username,
            scope=" ".join(sorted(principal.scopes)),
            token_id=principal.token_id,
        )

    async def login_session(self, session_id: uuid.UUID) -> LoginSessionStatus:
        active = await RefreshTokenRepository(self.session).family_active(session_id)
        return LoginSessionStatus(session_id=session_id, active=active)

    async def project_access(
        self, user_id: uuid.UUID, project_id: uuid.UUID
    ) -> ProjectAccessAnswer:
        found = await project_roles_of(self.session, user_id, project_id)
        if found is None:
            return ProjectAccessAnswer(project_id=project_id)
        project, role, org_role = found
        return ProjectAccessAnswer(
            project_id=project.id, org_id=project.org_id, role=role, org_role=org_role
        )

    async def storage_location(self, project_id: uuid.UUID, settings: Settings) -> StorageLocation:
        project = await ProjectRepository(self.session).get(project_id)
        if project is None:
            raise NotFound(f"Project {project_id} does not exist.")
        return describe_storage(project.id, settings)

    async def workspace_project(self, workspace_id: int) -> WorkspaceProject:
        project = await ProjectRepository(self.session).get_by_workspace_id(workspace_id)
        if project is None:
            raise NotFound(f"No project has the workspace id {workspace_id}.")
        return WorkspaceProject(workspace_id=workspace_id, project_id=project.id)
