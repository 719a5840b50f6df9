"""What every miner endpoint works with: the caller's project role and token, and the clients."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_miner.samples.service import SampleService
from nfhub_shared.audit import AuditDep, AuditWriter
from nfhub_shared.auth.dependencies import bearer_token, project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep

SamplesViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "samples:read")]
SamplesEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor, "samples:write")]


def sample_service(
    request: Request, session: AsyncSession, audit: AuditWriter, access: ProjectAccess
) -> SampleService:
    state = request.app.state
    return SampleService(
        session,
        audit,
        access,
        files=state.files_client,
        admin=state.admin_client,
        caller_token=bearer_token(request),
    )


async def sample_reader(
    request: Request, session: AsyncSessionDep, audit: AuditDep, access: SamplesViewer
) -> SampleService:
    return sample_service(request, session, audit, access)


async def sample_writer(
    request: Request, session: AsyncSessionDep, audit: AuditDep, access: SamplesEditor
) -> SampleService:
    return sample_service(request, session, audit, access)


SampleReader = Annotated[SampleService, Depends(sample_reader)]
SampleWriter = Annotated[SampleService, Depends(sample_writer)]
