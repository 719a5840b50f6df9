from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from nfhub_files.access import FilesEditor, FilesViewer
from nfhub_files.files.schemas import FileEntry
from nfhub_files.multipart.schemas import (
    MultipartUploadComplete,
    MultipartUploadCreate,
    MultipartUploadRead,
)
from nfhub_files.multipart.service import MultipartService
from nfhub_files.responses import COMPLETING, IN_THE_WAY
from nfhub_files.state import FilesStateDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.db.session import AsyncSessionDep

router = APIRouter(prefix="/files/multipart", tags=["files"])


async def get_viewer_service(
    session: AsyncSessionDep, audit: AuditDep, access: FilesViewer, state: FilesStateDep
) -> MultipartService:
    return MultipartService(session, state.storage, state.settings, audit, access)


async def get_editor_service(
    session: AsyncSessionDep, audit: AuditDep, access: FilesEditor, state: FilesStateDep
) -> MultipartService:
    return MultipartService(session, state.storage, state.settings, audit, access)


MultipartReader = Annotated[MultipartService, Depends(get_viewer_service)]
MultipartWriter = Annotated[MultipartService, Depends(get_editor_service)]


@router.post(
    "",
    response_model=MultipartUploadRead,
    status_code=status.HTTP_201_CREATED,
    responses=IN_THE_WAY,
)
async def start_multipart_upload(
    multipart_upload_create: MultipartUploadCreate, uploads: MultipartWriter
) -> MultipartUploadRead:
    """Start a large upload: a signed PUT URL per part; PUT each part, then complete."""
    return await uploads.start(multipart_upload_create)


@router.get("/{upload_id}", response_model=MultipartUploadRead)
async def get_multipart_upload(
    upload_id: uuid.UUID, uploads: MultipartReader
) -> MultipartUploadRead:
    """The parts uploaded so far and fresh URLs for the rest: how to resume an upload."""
    return await uploads.get(upload_id)


@router.post(
    "/{upload_id}/complete",
    response_model=FileEntry,
    responses=COMPLETING,
)
async def complete_multipart_upload(
    upload_id: uuid.UUID,
    multipart_upload_complete: MultipartUploadComplete,
    uploads: MultipartWriter,
) -> FileEntry:
    """Join the parts into the file; every part with the ETag its PUT returned."""
    return await uploads.complete(upload_id, multipart_upload_complete)


@router.delete("/{upload_id}", status_code=status.HTTP_204_NO_CONTENT)
async def abort_multipart_upload(upload_id: uuid.UUID, uploads: MultipartWriter) -> None:
    """Abort the upload and drop the parts uploaded so far."""
    await uploads.abort(upload_id)
