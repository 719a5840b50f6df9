from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_files.access import READ_SCOPE, FilesEditor
from nfhub_files.files.schemas import (
    DeleteResult,
    DownloadUrls,
    DownloadUrlsRequest,
    FileEntry,
    FolderCreate,
    StatRequest,
    StatResult,
    TransferRequest,
    TransferResult,
    UploadUrl,
    UploadUrlRequest,
)
from nfhub_files.files.service import FileReader, FileService
from nfhub_files.responses import DESTINATION_TAKEN, IN_THE_WAY
from nfhub_files.state import FilesStateDep, storage_and_settings
from nfhub_files.storage.paths import (
    MAX_PATH_FIELD_CHARS,
    PATH_DESCRIPTION,
    PATH_OR_ROOT_SCHEMA,
    PATH_SCHEMA,
)
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/files", tags=["files"])

PathQuery = Annotated[
    str,
    Query(
        max_length=MAX_PATH_FIELD_CHARS,
        description=PATH_DESCRIPTION,
        json_schema_extra=PATH_SCHEMA,
    ),
]


def file_reader(request: Request, access: ProjectAccess) -> FileReader:
    storage, settings = storage_and_settings(request.app)
    return FileReader(storage, settings, access)


async def get_editor_service(
    session: AsyncSessionDep, audit: AuditDep, access: FilesEditor, state: FilesStateDep
) -> FileService:
    return FileService(session, state.storage, state.settings, audit, access)


# One dependency, not a reader depending on a viewer dependency: signed URL issuance is hot
# (bench/files.py), and FastAPI solves each level of a chain on every request.
FilesReader = Annotated[FileReader, project_role(ProjectRole.viewer, READ_SCOPE, build=file_reader)]
FilesWriter = Annotated[FileService, Depends(get_editor_service)]


@router.get("", response_model=Page[FileEntry])
async def list_files(
    request: Request,
    response: Response,
    page: PageParamsDep,
    files: FilesReader,
    path: Annotated[
        str,
        Query(
            max_length=MAX_PATH_FIELD_CHARS,
            description="Folder; empty for the root",
            json_schema_extra=PATH_OR_ROOT_SCHEMA,
        ),
    ] = "",
) -> Page[FileEntry]:
    """Folders, then files, directly inside a folder."""
    items, count = await files.list_folder(path, limit=page.limit, offset=page.offset)
    return page_of(request, response, page, items, count)


@router.get("/stat", response_model=FileEntry)
async def stat_file(path: PathQuery, files: FilesReader) -> FileEntry:
    """One file or folder."""
    return await files.stat(path)


@router.post("/stat", response_model=StatResult)
async def stat_files(stat_request: StatRequest, files: FilesReader) -> StatResult:
    """Which of up to 500 paths exist, in one call (a sample's or an import's files)."""
    return await files.stat_many(stat_request.paths)


@router.post("/download-urls", response_model=DownloadUrls)
async def create_download_urls(
    download_urls_request: DownloadUrlsRequest, files: FilesReader
) -> DownloadUrls:
    """Signed GET URLs for up to 500 files in one call; 404 if any of them is missing."""
    return DownloadUrls(items=await files.download_urls(download_urls_request.paths))


@router.post("/upload-url", response_model=UploadUrl, responses=IN_THE_WAY)
async def create_upload_url(upload_url_request: UploadUrlRequest, files: FilesWriter) -> UploadUrl:
    """A signed, expiring URL to PUT the file, and the headers to send with it."""
    return await files.upload_url(upload_url_request)


@router.post(
    "/folders", response_model=FileEntry, status_code=status.HTTP_201_CREATED, responses=IN_THE_WAY
)
async def create_folder(folder_create: FolderCreate, files: FilesWriter) -> FileEntry:
    """Create a folder (and its parents)."""
    return await files.create_folder(folder_create.path)


@router.post("/copy", response_model=TransferResult, responses=DESTINATION_TAKEN)
async def copy_files(transfer_request: TransferRequest, files: FilesWriter) -> TransferResult:
    """Copy a file or folder; 409 when the destination exists and overwrite is false."""
    return await files.transfer(transfer_request, move=False)


@router.post("/move", response_model=TransferResult, responses=DESTINATION_TAKEN)
async def move_files(transfer_request: TransferRequest, files: FilesWriter) -> TransferResult:
    """Move a file or folder; 409 when the destination exists and overwrite is false."""
    return await files.transfer(transfer_request, move=True)


@router.delete("", response_model=DeleteResult)
async def delete_files(path: PathQuery, files: FilesWriter) -> DeleteResult:
    """Delete a file, or a folder with everything in it."""
    return await files.delete(path)
