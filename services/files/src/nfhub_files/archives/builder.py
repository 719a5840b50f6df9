"""Builds one zip: members streamed from storage into a temporary file, then stored.

Memory stays flat whatever the sizes: each member is copied a few MiB at a time, and the zip lives
in an anonymous temporary file (under ``TMPDIR``) until ``storage.write`` has streamed it away.
Blocking zip and file calls run in worker threads so the event loop keeps serving requests.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
import zipfile
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import IO

import anyio

from nfhub_files.archives.errors import ArchiveBuildError
from nfhub_files.storage.base import ObjectInfo, StorageBackend
from nfhub_files.storage.errors import ObjectNotFound
from nfhub_files.storage.paths import object_key, relative_path

COPY_CHUNK = 4 * 1024 * 1024
# Members this big get ZIP64 headers up front, so one that grows while it is read still fits.
FORCE_ZIP64_FROM = zipfile.ZIP64_LIMIT // 2
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
# Already compressed: deflating them again costs CPU and saves nothing.
STORED_SUFFIXES = (
    ".gz",
    ".bgz",
    ".bz2",
    ".xz",
    ".zst",
    ".zip",
    ".7z",
    ".bam",
    ".cram",
    ".bcf",
    ".png",
    ".jpg",
    ".jpeg",
    ".gif",
    ".pdf",
)

Heartbeat = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class BuiltArchive:
    key: str
    size: int
    file_count: int


def archive_key(project_id: uuid.UUID, archive_id: uuid.UUID) -> str:
    """Outside ``projects/<id>/``: an archive never shows up among the project's files."""
    return f"archives/{project_id}/{archive_id}.zip"


def is_folder(path: str) -> bool:
    """Selections store folders with a trailing '/', the whole project as ''."""
    return path == "" or path.endswith("/")


def _zip_time(modified: datetime) -> tuple[int, int, int, int, int, int]:
    stamp = modified.astimezone(UTC).timetuple()[:6]
    return max(stamp, ZIP_EPOCH)


def _zip_info(name: str, info: ObjectInfo) -> zipfile.ZipInfo:
    member = zipfile.ZipInfo(name, date_time=_zip_time(info.modified))
    member.compress_type = (
        zipfile.ZIP_STORED if name.lower().endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
    )
    member.file_size = info.size  # lets zipfile decide on ZIP64 before the bytes arrive
    member.external_attr = 0o100644 << 16  # a regular file, rw-r--r--, when unzipped
    return member


def _temporary_file() -> IO[bytes]:
    # Anonymous: gone when closed, or when the process dies mid-build.
    return tempfile.TemporaryFile(mode="w+b", prefix="nfhub-archive-", suffix=".zip")


def _discard(zip_part: zipfile.ZipFile | IO[bytes]) -> None:
    """Close a zip or zip member of a failed build, synchronously and quietly.

    In a cancelled task nothing can be awaited any more, and a ZipFile left open complains when it
    is garbage-collected; its bytes go with the temporary file anyway, so errors do not matter.
    """
    with contextlib.suppress(Exception):
        zip_part.close()


class ArchiveBuilder:
    def __init__(
        self, storage: StorageBackend, *, max_bytes: int, heartbeat: Heartbeat | None = None
    ) -> None:
        self.storage = storage
        self.max_bytes = max_bytes
        self.heartbeat = heartbeat

    async def build(
        self, project_id: uuid.UUID, archive_id: uuid.UUID, paths: list[str]
    ) -> BuiltArchive:
        total, count = 0, 0
        async with contextlib.aclosing(self.members(project_id, paths)) as members:
            async for info in members:
                total += info.size
                count += 1
                self._check_limit(total, count)
        handle = await anyio.to_thread.run_sync(_temporary_file)
        try:
            file_count = await self._write_zip(handle, project_id, paths)
            stored = await self.storage.write(
                archive_key(project_id, archive_id), self._read_back(handle)
            )
        finally:
            # Not in a thread: closing must happen even when the build is being cancelled.
            handle.close()
        return BuiltArchive(stored.key, stored.size, file_count)

    async def members(
        self, project_id: uuid.UUID, paths: list[str]
    ) -> AsyncGenerator[ObjectInfo, None]:
        """Every file of the selection, in the order asked for, folders recursively."""
        for path in paths:
            key = object_key(project_id, path)
            if is_folder(path):
                if path and not await self.storage.folder_exists(key):
                    raise ArchiveBuildError(
                        f"The folder {path} was deleted or moved after the archive was "
                        "requested; create the archive again."
                    )
                async for info in self.storage.iter_objects(key):
                    yield info
            else:
                info_or_none = await self.storage.stat(key)
                if info_or_none is None:
                    raise ArchiveBuildError(
                        f"The file {path} was deleted or moved after the archive was requested; "
                        "create the archive again."
                    )
                yield info_or_none

    def _check_limit(self, total: int, count: int) -> None:
        if total > self.max_bytes:
            raise ArchiveBuildError(
                f"The selection holds more than {self.max_bytes} bytes ({total} in the first "
                f"{count} files), the most one archive may hold; select fewer files, or "
                "download the large ones directly with their download URLs."
            )

    async def _write_zip(self, handle: IO[bytes], project_id: uuid.UUID, paths: list[str]) -> int:
        archive = await anyio.to_thread.run_sync(
            partial(zipfile.ZipFile, handle, "w", allowZip64=True)
        )
        total, count = 0, 0
        try:
            async with contextlib.aclosing(self.members(project_id, paths)) as members:
                async for info in members:
                    name = relative_path(project_id, info.key)
                    total += await self._add_member(archive, name, info, already=total)
                    count += 1
        except BaseException:
            _discard(archive)
            raise
        await anyio.to_thread.run_sync(archive.close)
        return count

    async def _add_member(
        self, archive: zipfile.ZipFile, name: str, info: ObjectInfo, *, already: int
    ) -> int:
        member = _zip_info(name, info)
        target = await anyio.to_thread.run_sync(
            partial(archive.open, member, "w", force_zip64=info.size >= FORCE_ZIP64_FROM)
        )
        copied = 0
        buffer = bytearray()
        try:
            async for chunk in self.storage.read(info.key):
                copied += len(chunk)
                if already + copied > self.max_bytes:
                    # The listing was within the limit; a file grew while the archive was built.
                    raise ArchiveBuildError(
                        f"The selected files grew past {self.max_bytes} bytes, the most one "
                        "archive may hold, while it was being built; select fewer files."
                    )
                buffer += chunk
                if len(buffer) >= COPY_CHUNK:
                    await anyio.to_thread.run_sync(target.write, buffer)
                    buffer.clear()
                    await self._beat()
            if buffer:
                await anyio.to_thread.run_sync(target.write, buffer)
        except ObjectNotFound as exc:
            _discard(target)
            raise ArchiveBuildError(
                f"The file {name} was deleted or moved while the archive was being built; "
                "create the archive again."
            ) from exc
        except BaseException:
            _discard(target)
            raise
        await anyio.to_thread.run_sync(target.close)
        await self._beat()
        return copied

    async def _read_back(self, handle: IO[bytes]) -> AsyncIterator[bytes]:
        await anyio.to_thread.run_sync(handle.seek, 0)
        while chunk := await anyio.to_thread.run_sync(handle.read, COPY_CHUNK):
            yield chunk
            await self._beat()

    async def _beat(self) -> None:
        if self.heartbeat is not None:
            await self.heartbeat()
