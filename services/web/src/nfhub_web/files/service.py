"""The project's files as the files API tells them, for the Files pages: one project's (the
session's), called as the user. Every rule (what a path may be, who may write, what is in the
way) is the API's; its refusals come back as ``ApiProblem``."""

from __future__ import annotations

import uuid

from nfhub_web.apis import Apis
from nfhub_web.files.schemas import (
    FILES_PER_PAGE,
    Archive,
    DownloadUrls,
    FolderEntry,
    MultipartUpload,
    UploadFinish,
    UploadStart,
    UploadUrl,
)
from nfhub_web.schemas import Page
from nfhub_web.sessions.service import ActiveSession


class FilesService:
    def __init__(self, apis: Apis, session: ActiveSession) -> None:
        assert session.project_id is not None, "files pages need a project"
        self.apis = apis
        self.token = session.access_token
        self.project_id: uuid.UUID = session.project_id

    async def list_folder(self, folder: str, offset: int) -> Page[FolderEntry]:
        return await self.apis.read(
            Page[FolderEntry],
            "files",
            "/files",
            token=self.token,
            project_id=self.project_id,
            params={"path": folder, "limit": FILES_PER_PAGE, "offset": offset},
        )

    async def create_folder(self, path: str) -> FolderEntry:
        return await self.apis.read(
            FolderEntry,
            "files",
            "/files/folders",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json={"path": path},
        )

    async def transfer(self, src: str, dst: str, *, overwrite: bool, move: bool) -> None:
        await self.apis.call(
            "files",
            "POST",
            "/files/move" if move else "/files/copy",
            token=self.token,
            project_id=self.project_id,
            json={"src": src, "dst": dst, "overwrite": overwrite},
        )

    async def delete(self, path: str) -> None:
        await self.apis.call(
            "files",
            "DELETE",
            "/files",
            token=self.token,
            project_id=self.project_id,
            params={"path": path},
        )

    async def download_url(self, path: str) -> str:
        urls = await self.apis.read(
            DownloadUrls,
            "files",
            "/files/download-urls",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json={"paths": [path]},
        )
        return urls.items[0].url

    async def upload_url(self, upload: UploadStart) -> UploadUrl:
        return await self.apis.read(
            UploadUrl,
            "files",
            "/files/upload-url",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json=upload.model_dump(exclude_none=True, exclude={"part_size"}),
        )

    async def start_multipart(self, upload: UploadStart) -> MultipartUpload:
        return await self.apis.read(
            MultipartUpload,
            "files",
            "/files/multipart",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json=upload.model_dump(exclude_none=True),
        )

    async def get_multipart(self, upload_id: uuid.UUID) -> MultipartUpload:
        return await self.apis.read(
            MultipartUpload,
            "files",
            f"/files/multipart/{upload_id}",
            token=self.token,
            project_id=self.project_id,
        )

    async def complete_multipart(self, upload_id: uuid.UUID, finish: UploadFinish) -> FolderEntry:
        return await self.apis.read(
            FolderEntry,
            "files",
            f"/files/multipart/{upload_id}/complete",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json=finish.model_dump(),
        )

    async def abort_multipart(self, upload_id: uuid.UUID) -> None:
        await self.apis.call(
            "files",
            "DELETE",
            f"/files/multipart/{upload_id}",
            token=self.token,
            project_id=self.project_id,
        )

    async def create_archive(self, paths: list[str], name: str) -> Archive:
        return await self.apis.read(
            Archive,
            "files",
            "/files/archives",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json={"paths": paths, "name": name},
        )

    async def get_archive(self, archive_id: uuid.UUID) -> Archive:
        return await self.apis.read(
            Archive,
            "files",
            f"/files/archives/{archive_id}",
            token=self.token,
            project_id=self.project_id,
        )
