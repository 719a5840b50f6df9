from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from nfhub_files.access import FilesViewer
from nfhub_files.archives.schemas import ArchiveCreate, ArchiveRead
from nfhub_files.archives.service import ArchiveService
from nfhub_files.state import FilesStateDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/files/archives", tags=["files"])


async def get_archive_service(
    session: AsyncSessionDep,
    audit: AuditDep,
    # Viewers may download every file one by one, so they may ask for them zipped too.
    access: FilesViewer,
    state: FilesStateDep,
) -> ArchiveService:
    return ArchiveService(session, state.storage, state.settings, audit, access)


Archives = Annotated[ArchiveService, Depends(get_archive_service)]


@router.post("", response_model=ArchiveRead, status_code=status.HTTP_202_ACCEPTED)
async def create_archive(
    archive_create: ArchiveCreate, request: Request, response: Response, archives: Archives
) -> ArchiveRead:
    """Queue a zip of files and folders (viewers may too); poll it until ready, then download."""
    archive = await archives.create(archive_create)
    response.headers["Location"] = str(request.url_for("get_archive", archive_id=archive.id))
    return archive


@router.get("", response_model=Page[ArchiveRead])
async def list_archives(
    request: Request, response: Response, page: PageParamsDep, archives: Archives
) -> Page[ArchiveRead]:
    """This project's archives, newest first."""
    items, count = await archives.list_archives(limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.get("/{archive_id}", response_model=ArchiveRead)
async def get_archive(archive_id: uuid.UUID, archives: Archives) -> ArchiveRead:
    """An archive's status and, once ready, a signed URL to download the zip."""
    return await archives.get(archive_id)
