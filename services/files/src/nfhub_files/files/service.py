"""Files of a project: listing, signed URLs, copy, move, delete, folders."""

from __future__ import annotations

import asyncio
import posixpath
import uuid
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from nfhub_files.context import ProjectChangeContext, ProjectContext
from nfhub_files.files.repository import LockRepository
from nfhub_files.files.schemas import (
    DeleteResult,
    DownloadUrl,
    FileEntry,
    StatResult,
    TransferRequest,
    TransferResult,
    UploadUrl,
    UploadUrlRequest,
)
from nfhub_files.storage.base import ObjectInfo
from nfhub_files.storage.errors import ObjectExists, ObjectNotFound
from nfhub_files.storage.paths import normalise_path, object_key, relative_path
from nfhub_shared.errors import BadRequest, Conflict

# Stat and sign this many objects at a time (each is a HEAD request on S3).
DOWNLOAD_URLS_CONCURRENCY = 16


def file_entry(project_id: uuid.UUID, info: ObjectInfo) -> FileEntry:
    path = relative_path(project_id, info.key)
    return FileEntry(
        path=path,
        name=posixpath.basename(path),
        kind="file",
        size=info.size,
        modified=info.modified,
        etag=info.etag,
        sha256=info.sha256,
    )


def folder_entry(project_id: uuid.UUID, key: str) -> FileEntry:
    path = relative_path(project_id, key)
    return FileEntry(path=path, name=posixpath.basename(path.rstrip("/")), kind="folder")


class FileReader(ProjectContext):
    """Read-only operations: no database session, so listing and signing stay cheap."""

    def key(self, path: str, *, folder: bool = False) -> str:
        return object_key(self.project_id, normalise_path(path, folder=folder))

    async def list_folder(
        self, path: str, *, limit: int, offset: int
    ) -> tuple[list[FileEntry], int]:
        relative = normalise_path(path, folder=True, allow_root=True)
        prefix = object_key(self.project_id, relative)
        if relative and not await self.storage.folder_exists(prefix):
            if await self.storage.stat(prefix.rstrip("/")) is not None:
                raise BadRequest(f"{relative.rstrip('/')} is a file; list its folder instead.")
            raise ObjectNotFound(f"No folder {relative} in this project.")
        listing, total = await self.storage.list_page(prefix, offset=offset, limit=limit)
        items = [folder_entry(self.project_id, key) for key in listing.folders]
        items += [file_entry(self.project_id, info) for info in listing.objects]
        return items, total

    async def stat(self, path: str) -> FileEntry:
        key = self.key(path)
        info = await self.storage.stat(key)
        if info is not None:
            return file_entry(self.project_id, info)
        if await self.storage.folder_exists(key + "/"):
            return folder_entry(self.project_id, key + "/")
        raise ObjectNotFound(f"No file or folder {normalise_path(path)} in this project.")

    async def stat_many(self, paths: list[str]) -> StatResult:
        """Which of many paths exist (files or folders), in one call; the rest are ``missing``."""
        limit = asyncio.Semaphore(DOWNLOAD_URLS_CONCURRENCY)

        async def one(path: str) -> FileEntry | str:
            async with limit:
                try:
                    return await self.stat(path)
                except ObjectNotFound:
                    return normalise_path(path)

        found = await asyncio.gather(*(one(path) for path in dict.fromkeys(paths)))
        return StatResult(
            items=[entry for entry in found if isinstance(entry, FileEntry)],
            missing=[entry for entry in found if isinstance(entry, str)],
        )

    async def download_urls(self, paths: list[str]) -> list[DownloadUrl]:
        """Signed URLs for many files at once (a run's outputs, a samplesheet's FASTQs)."""
        limit = asyncio.Semaphore(DOWNLOAD_URLS_CONCURRENCY)

        async def one(path: str) -> DownloadUrl:
            async with limit:
                return await self.download_url(path)

        return list(await asyncio.gather(*(one(path) for path in dict.fromkeys(paths))))

    async def download_url(self, path: str) -> DownloadUrl:
        relative = normalise_path(path)
        key = object_key(self.project_id, relative)
        info = await self.storage.stat(key, checksum=False)
        if info is None:
            raise ObjectNotFound(f"No file {relative} in this project.")
        expires_in = self.settings.URL_TTL_SECONDS
        url = await self.storage.presign_get(
            key, expires_in=expires_in, filename=posixpath.basename(key)
        )
        return DownloadUrl(
            path=relative,
            url=url,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            size=info.size,
        )


class FileService(ProjectChangeContext, FileReader):
    """Changes: serialised per key with advisory locks, each recorded in the audit log."""

    @cached_property
    def locks(self) -> LockRepository:
        return LockRepository(self.session)

    async def upload_url(self, request: UploadUrlRequest) -> UploadUrl:
        key = self.key(request.path)
        if request.size is not None and request.size > self.settings.MAX_OBJECT_BYTES:
            raise BadRequest(
                f"Files are at most {self.settings.MAX_OBJECT_BYTES} bytes; this one would be "
                f"{request.size}."
            )
        if await self.storage.folder_exists(key + "/"):
            raise ObjectExists(f"{relative_path(self.project_id, key)} is a folder.")
        await self._refuse_file_on_the_way(key)
        expires_in = self.settings.URL_TTL_SECONDS
        signed = await self.storage.presign_put(
            key,
            expires_in=expires_in,
            size=request.size,
            content_type=request.content_type,
            sha256=request.sha256,
            md5=request.md5,
        )
        await self._audit("file.upload_url", key, {"size": request.size})
        return UploadUrl(
            path=relative_path(self.project_id, key),
            url=signed.url,
            method=signed.method,
            headers=signed.headers,
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
        )

    async def create_folder(self, path: str) -> FileEntry:
        prefix = self.key(path, folder=True)
        await self.locks.lock_keys(prefix.rstrip("/"))
        if await self.storage.stat(prefix.rstrip("/")) is not None:
            raise ObjectExists(f"A file named {relative_path(self.project_id, prefix)} exists.")
        await self._refuse_file_on_the_way(prefix.rstrip("/"))
        await self.storage.make_folder(prefix)
        await self._audit("folder.create", prefix, {})
        return folder_entry(self.project_id, prefix)

    async def delete(self, path: str) -> DeleteResult:
        key = self.key(path)
        await self.locks.lock_keys(key)
        if await self.storage.stat(key) is not None:
            await self.storage.delete_object(key)
            count = 1
        elif await self.storage.folder_exists(key + "/"):
            count = sum([1 async for _ in self.storage.iter_objects(key + "/")])
            await self.storage.delete_folder(key + "/")
        else:
            raise ObjectNotFound(f"No file or folder {relative_path(self.project_id, key)}.")
        await self._audit("file.delete", key, {"objects": count})
        return DeleteResult(path=path, objects=count)

    async def transfer(self, request: TransferRequest, *, move: bool) -> TransferResult:
        """Copy or move a file or a folder; refuses to overwrite unless asked."""
        source = self.key(request.src)
        destination = self.key(request.dst)
        if source == destination:
            raise BadRequest("Source and destination are the same.")
        await self.locks.lock_keys(source, destination)
        source_info = await self.storage.stat(source)
        if source_info is None and not await self.storage.folder_exists(source + "/"):
            raise ObjectNotFound(f"No file or folder {relative_path(self.project_id, source)}.")
        if source_info is None and (destination + "/").startswith(source + "/"):
            raise BadRequest("A folder cannot be copied or moved into itself.")
        pairs: list[tuple[str, str]] = (
            [(source, destination)]
            if source_info is not None
            else [
                (info.key, destination + info.key[len(source) :])
                async for info in self.storage.iter_objects(source + "/")
            ]
        )
        if not request.overwrite:
            await self._refuse_existing(destination, [target for _, target in pairs])
        else:
            await self._refuse_kind_change(source_info is None, destination, pairs)
        await self._refuse_file_on_the_way(destination)
        if move and source_info is not None:
            await self.storage.move_object(source, destination)
        else:
            for from_key, to_key in pairs:
                await self.storage.copy_object(from_key, to_key)
            if source_info is None:
                await self.storage.make_folder(destination + "/")
            if move:
                if source_info is not None:
                    await self.storage.delete_object(source)
                else:
                    await self.storage.delete_folder(source + "/")
        await self._audit(
            "file.move" if move else "file.copy",
            source,
            {"to": relative_path(self.project_id, destination), "objects": len(pairs)},
        )
        return TransferResult(src=request.src, dst=request.dst, objects=len(pairs))

    async def _refuse_file_on_the_way(self, key: str) -> None:
        """A path below a file is refused: on local disk a file cannot also be a folder, and S3
        keeps the same rule so both backends answer alike."""
        relative = relative_path(self.project_id, key)
        parts = relative.split("/")[:-1]
        # Deepest first: the first folder found means everything above it is a folder too.
        for depth in range(len(parts), 0, -1):
            ancestor = object_key(self.project_id, "/".join(parts[:depth]))
            if await self.storage.folder_exists(ancestor + "/"):
                return
            if await self.storage.stat(ancestor) is not None:
                raise Conflict(
                    f"{'/'.join(parts[:depth])} is a file, so it cannot hold {relative}; "
                    "choose another path."
                )

    async def _refuse_kind_change(
        self, folder: bool, destination: str, pairs: list[tuple[str, str]]
    ) -> None:
        """overwrite replaces files with files; a file never replaces a folder or the reverse."""
        name = relative_path(self.project_id, destination)
        if folder and await self.storage.stat(destination) is not None:
            raise Conflict(f"{name} is a file; a folder cannot overwrite it. Delete it first.")
        targets = pairs if folder else [(destination, destination)]
        for _, target in targets:
            if await self.storage.folder_exists(target + "/"):
                raise Conflict(
                    f"{relative_path(self.project_id, target)} is a folder; a file cannot "
                    "overwrite it. Delete it first or choose another destination."
                )

    async def _refuse_existing(self, destination: str, targets: list[str]) -> None:
        exists = await self.storage.stat(destination) is not None
        exists = exists or await self.storage.folder_exists(destination + "/")
        if not exists:
            for target in targets:
                if await self.storage.stat(target) is not None:
                    exists = True
                    break
        if exists:
            raise Conflict(
                f"{relative_path(self.project_id, destination)} exists; pass overwrite=true "
                "to replace it."
            )

    async def _audit(self, action: str, key: str, details: dict[str, Any]) -> None:
        await self.record(action, "file", {"path": relative_path(self.project_id, key), **details})
