"""The project's files as the files API tells them, for the Files pages: one project's (the
session's), called as the user. Every rule (what a path may be, who may write, what is in the
way) is the API's; its refusals come back as ``ApiProblem``."""

from __future__ import annotations

import uuid

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
from nfhub_web.project_apis import ProjectApis
from nfhub_web.schemas import Page


class FilesService(ProjectApis):
    async def list_folder(self, folder: str, offset: int) -> Page[FolderEntry]:
        return await self.read(
            Page[FolderEntry],
            "files",
            "/files",
            params={"path": folder, "limit": FILES_PER_PAGE, "offset": offset},
        )

    async def create_folder(self, path: str) -> FolderEntry:
        return await self.read(
            FolderEntry, "files", "/files/folders", method="POST", json={"path": path}
        )

    async def transfer(self, src: str, dst: str, *, overwrite: bool, move: bool) -> None:
        await self.call(
            "files",
            "POST",
            "/files/move" if move else "/files/copy",
            json={"src": src, "dst": dst, "overwrite": overwrite},
        )

    async def delete(self, path: str) -> None:
        await self.call("files", "DELETE", "/files", params={"path": path})

    async def download_url(self, path: str) -> str:
        urls = await self.read(
            DownloadUrls, "files", "/files/download-urls", method="POST", json={"paths": [path]}
        )
        return urls.items[0].url

    async def upload_url(self, upload: UploadStart) -> UploadUrl:
        return await self.read(
            UploadUrl,
            "files",
            "/files/upload-url",
            method="POST",
            json=upload.model_dump(exclude_none=True, exclude={"part_size"}),
        )

    async def start_multipart(self, upload: UploadStart) -> MultipartUpload:
        return await self.read(
            MultipartUpload,
            "files",
            "/files/multipart",
            method="POST",
            json=upload.model_dump(exclude_none=True),
        )

    async def get_multipart(self, upload_id: uuid.UUID) -> MultipartUpload:
        return await self.read(MultipartUpload, "files", f"/files/multipart/{upload_id}")

    async def complete_multipart(self, upload_id: uuid.UUID, finish: UploadFinish) -> FolderEntry:
        return await self.read(
            FolderEntry,
            "files",
            f"/files/multipart/{upload_id}/complete",
            method="POST",
            json=finish.model_dump(),
        )

    async def abort_multipart(self, upload_id: uuid.UUID) -> None:
        await self.call("files", "DELETE", f"/files/multipart/{upload_id}")

    async def create_archive(self, paths: list[str], name: str) -> Archive:
        return await self.read(
            Archive,
            "files",
            "/files/archives",
            method="POST",
            json={"paths": paths, "name": name},
        )

    async def get_archive(self, archive_id: uuid.UUID) -> Archive:
        return await self.read(Archive, "files", f"/files/archives/{archive_id}")
