"""Objects as files under a root directory: paths confined to their project, reading, listing,
signed URLs, and writes that land whole (a temporary file renamed into place)."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from stat import S_ISLNK, S_ISREG

import anyio

from nfhub_files.storage.base import Listing, ObjectInfo, SignedRequest
from nfhub_files.storage.errors import ChecksumMismatch, ObjectNotFound, StorageUnavailable
from nfhub_files.storage.local.disk import (
    TEMP_PREFIX,
    ensure_folder,
    flush_handle,
    flush_path,
    object_info,
    read_sha256,
    write_sha256,
)
from nfhub_files.storage.local.writer import OverlappedWriter
from nfhub_files.storage.signing import BlobGrant, BlobSigner
from nfhub_files.storage.upload_memory import UploadMemory
from nfhub_shared.cache import ExpiringCache

READ_CHUNK = 1024 * 1024
# How long a project folder's resolved location is reused (it moves only by an operator's hand).
PROJECT_FOLDER_TTL_SECONDS = 5.0


def _walk_below(folder: Path, relative: str) -> tuple[bool, os.stat_result | None]:
    """Whether a name on the way from ``folder`` down to ``relative`` is a symlink (or a name
    that only resolving can judge), and the ``lstat`` of the last name when the walk reached
    it through no link: then it is the file's own stat, and asking again would be a second
    system call. Names that do not exist end the walk: nothing below them can be a link."""
    current = str(folder)
    last: os.stat_result | None = None
    for name in relative.split("/"):
        if name in {"", ".", ".."}:
            return True, None
        current = f"{current}/{name}"
        try:
            last = os.lstat(current)
        except (FileNotFoundError, NotADirectoryError):
            return False, None
        if S_ISLNK(last.st_mode):
            return True, None
    return False, last


class LocalObjects:
    """Files under ``root`` (projects/<id>/... and the service's own keys), signed URLs to
    this service's blob endpoint, and uploads received into place."""

    def __init__(
        self,
        root: Path,
        signer: BlobSigner,
        max_object_bytes: int,
        *,
        durable: bool = True,
        upload_memory_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.root = root.resolve()
        self.signer = signer
        self.max_object_bytes = max_object_bytes
        # Received bytes not yet written, all uploads together (FILES_LOCAL_UPLOAD_MEMORY_BYTES).
        self.upload_memory = UploadMemory(upload_memory_bytes)
        # Whether a write is flushed to the disk (file, then its folder's rename) before it is
        # reported done: a 200 for an upload must survive a power cut, as it does on S3.
        self.durable = durable
        self._project_folders: ExpiringCache[str, Path] = ExpiringCache(
            4096, PROJECT_FOLDER_TTL_SECONDS
        )

    # -- paths ---------------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        """The file for a key, symlinks resolved; one that resolves outside its project's
        folder (or, for keys outside projects/, outside the root) is refused.

        Only the names below the (resolved) project folder are looked at, one ``lstat`` each,
        and the path is fully resolved only when one of them is a link: resolving it all
        re-reads every folder from / down, a dozen system calls per file operation.
        """
        self._require_root()
        return Path(self._confined_stat(key)[0])

    def _confined_stat(self, key: str) -> tuple[str, os.stat_result | None]:
        """``path`` without the root check, as text (pathlib's joins cost more than the
        system calls on the signed-URL path), and the file's stat when the confinement walk
        already made it."""
        if not key:
            return str(self.root), None
        boundary, rest = self._boundary(key)
        if not rest:
            return str(boundary), None
        lexical = f"{boundary}/{rest}"
        through_link, last = _walk_below(boundary, rest)
        if not through_link:
            return lexical, last
        # pathlib's join here, as before the text one: an absolute rest replaces the boundary,
        # and the check below refuses it.
        path = (boundary / rest).resolve()
        if path != boundary and not path.is_relative_to(boundary):
            raise ObjectNotFound("No such file or folder.")
        return str(path), None

    def _boundary(self, key: str) -> tuple[Path, str]:
        """The folder a key must stay in (resolved), and the key's rest below it."""
        first, _, rest = key.partition("/")
        if first != "projects":
            return self.root, key
        project, _, below = rest.partition("/")
        if project in {"", ".", ".."}:
            raise ObjectNotFound("No such file or folder.")
        boundary = self._project_folders.get(project)
        if boundary is None:
            # Resolved, so a project folder an operator moved elsewhere behind a symlink works.
            boundary = (self.root / first / project).resolve()
            self._project_folders.put(project, boundary)
        return boundary, below

    def _require_root(self) -> None:
        """A root that is missing is made; one that cannot be (a file, under a file) is a 503,
        not every file looking absent."""
        if self.root.is_dir():
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"The storage directory is not usable ({type(exc).__name__}); "
                "an administrator must fix FILES_LOCAL_ROOT."
            ) from exc

    # -- reading -------------------------------------------------------------------------------

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(str(self.root))

        try:
            # Abandoned when the caller gives up: a hung mount must not hang /readyz.
            await anyio.to_thread.run_sync(probe, abandon_on_cancel=True)
        except OSError as exc:
            raise StorageUnavailable(
                f"The storage directory is not usable ({type(exc).__name__})."
            ) from exc

    # stat and is_dir are single metadata syscalls, answered from the inode cache: cheaper
    # inline than the round trip to a worker thread (signed-URL issuance calls them per URL).
    async def stat(self, key: str, *, checksum: bool = True) -> ObjectInfo | None:
        # The root is checked only when the file is not found: a file that is there proves
        # the root, and a root gone bad must be a 503, not a 404 (see _require_root).
        path, stat_or_none = self._confined_stat(key)
        try:
            stat = os.stat(path) if stat_or_none is None else stat_or_none
        except (FileNotFoundError, NotADirectoryError):
            self._require_root()
            return None
        if not S_ISREG(stat.st_mode):
            return None
        return object_info(key, path, stat, checksum=checksum)

    async def folder_exists(self, prefix: str) -> bool:
        return self.path(prefix.rstrip("/")).is_dir()

    async def list_page(self, prefix: str, *, offset: int, limit: int) -> tuple[Listing, int]:
        """One page of children (folders first), stat-ing only the files on that page.

        Names come from one directory scan (d_type tells folders from files without a stat);
        sorting names is cheap, a stat per entry of a 100,000-file folder is not.
        """
        directory = self.path(prefix.rstrip("/"))

        def scan() -> tuple[Listing, int]:
            folder_names: list[str] = []
            file_names: list[str] = []
            try:
                with os.scandir(directory) as entries:
                    for entry in entries:
                        if entry.name.startswith(TEMP_PREFIX):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            folder_names.append(entry.name)
                        elif entry.is_file(follow_symlinks=False):
                            file_names.append(entry.name)
            except (FileNotFoundError, NotADirectoryError):
                return Listing([], []), 0
            folder_names.sort()
            file_names.sort()
            folders = folder_names[offset : offset + limit]
            file_offset = max(0, offset - len(folder_names))
            page_files = file_names[file_offset : file_offset + limit - len(folders)]
            objects = []
            for name in page_files:
                try:
                    stat = os.stat(directory / name, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted since the scan
                if not S_ISREG(stat.st_mode):
                    continue  # replaced by a link or a folder since the scan
                # Its checksum too: one getxattr, only for the files on this page.
                objects.append(object_info(prefix + name, directory / name, stat))
            listing = Listing([f"{prefix}{name}/" for name in folders], objects)
            return listing, len(folder_names) + len(file_names)

        return await anyio.to_thread.run_sync(scan)

    async def iter_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        base = self.path(prefix.rstrip("/"))

        def walk() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            if base.is_file():
                return [object_info(prefix.rstrip("/"), base, base.stat())]
            for directory, subdirectories, names in os.walk(base):
                subdirectories[:] = sorted(
                    d for d in subdirectories if not d.startswith(TEMP_PREFIX)
                )
                for name in sorted(names):
                    path = Path(directory) / name
                    # Listings skip links too: a link's target may be outside the project.
                    if name.startswith(TEMP_PREFIX) or path.is_symlink():
                        continue
                    key = path.relative_to(self.root).as_posix()
                    found.append(object_info(key, path, path.stat()))
            return found

        for info in await anyio.to_thread.run_sync(walk):
            yield info

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            handle = await anyio.to_thread.run_sync(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(f"No file at {key}.") from exc
        try:
            while chunk := await anyio.to_thread.run_sync(handle.read, READ_CHUNK):
                yield chunk
        finally:
            handle.close()

    # -- signed URLs ---------------------------------------------------------------------------

    async def presign_get(self, key: str, *, expires_in: int, filename: str) -> str:
        return self.signer.url(grant("GET", key, expires_in))

    async def presign_put(
        self,
        key: str,
        *,
        expires_in: int,
        size: int | None,
        content_type: str | None,
        sha256: str | None,
        md5: str | None,
    ) -> SignedRequest:
        put_grant = grant(
            "PUT", key, expires_in, max_size=size or self.max_object_bytes, sha256=sha256, md5=md5
        )
        headers = {"Content-Type": content_type} if content_type else {}
        return SignedRequest("PUT", self.signer.url(put_grant), headers)

    # -- writing -------------------------------------------------------------------------------

    async def make_folder(self, prefix: str) -> None:
        path = self.path(prefix.rstrip("/"))
        await anyio.to_thread.run_sync(ensure_folder, path)

    async def copy_object(self, source: str, destination: str) -> None:
        source_path, destination_path = self.path(source), self.path(destination)

        def copy() -> None:
            ensure_folder(destination_path.parent)
            temporary = destination_path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
            try:
                shutil.copy2(source_path, temporary)
                sha256 = read_sha256(source_path)
                if sha256:
                    write_sha256(temporary, sha256)
                if self.durable:
                    flush_path(temporary)
                os.replace(temporary, destination_path)
                if self.durable:
                    flush_path(destination_path.parent)
            finally:
                temporary.unlink(missing_ok=True)

        try:
            await anyio.to_thread.run_sync(copy)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"No file at {source}.") from exc

    async def move_object(self, source: str, destination: str) -> None:
        """Rename in place (atomic on one filesystem)."""
        source_path, destination_path = self.path(source), self.path(destination)

        def move() -> None:
            ensure_folder(destination_path.parent)
            os.rename(source_path, destination_path)
            if self.durable:
                for folder in {destination_path.parent, source_path.parent}:
                    flush_path(folder)

        try:
            await anyio.to_thread.run_sync(move)
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"No file at {source}.") from exc

    async def delete_object(self, key: str) -> None:
        await anyio.to_thread.run_sync(lambda: self.path(key).unlink(missing_ok=True))

    async def delete_folder(self, prefix: str) -> None:
        path = self.path(prefix.rstrip("/"))
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        return await self.receive(key, chunks, max_size=self.max_object_bytes)

    async def receive(
        self,
        key: str,
        chunks: AsyncIterator[bytes],
        *,
        max_size: int,
        sha256: str | None = None,
        md5: str | None = None,
    ) -> ObjectInfo:
        """Stream to a temporary file, check size and checksums, then rename into place."""
        destination = self.path(key)
        await anyio.to_thread.run_sync(ensure_folder, destination.parent)
        temporary = destination.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        sha256_hash = hashlib.sha256() if sha256 else None
        md5_hash = hashlib.md5(usedforsecurity=False) if md5 else None
        handle = await anyio.to_thread.run_sync(temporary.open, "wb")
        writer = OverlappedWriter(handle, sha256_hash, md5_hash, self.upload_memory)
        try:
            await writer.receive_all(chunks, max_size)
            if sha256 and sha256_hash and sha256_hash.hexdigest() != sha256.lower():
                raise ChecksumMismatch("sha256")
            if md5 and md5_hash and md5_hash.hexdigest() != md5.lower():
                raise ChecksumMismatch("md5")

            def put_in_place() -> os.stat_result:
                if sha256:
                    write_sha256(temporary, sha256.lower())
                if self.durable:
                    flush_handle(handle)
                # This upload's file, even if another has replaced it by the time we answer.
                written = os.fstat(handle.fileno())
                handle.close()
                os.replace(temporary, destination)
                if self.durable:
                    flush_path(destination.parent)
                return written

            stat = await anyio.to_thread.run_sync(put_in_place)
        except BaseException as exc:

            def discard() -> None:
                handle.close()
                temporary.unlink(missing_ok=True)

            # A refused upload is gone before its answer is sent; a cancelled one as soon as
            # the thread lets go of the file.
            await writer.abandon(discard, wait=isinstance(exc, Exception))
            raise
        # The sha256 as given (and checked): no need to read back the attribute just written.
        info = object_info(key, destination, stat, checksum=False)
        return dataclasses.replace(info, sha256=sha256.lower() if sha256 else None)

    async def close(self) -> None:
        return None


def grant(
    method: str,
    key: str,
    expires_in: int,
    *,
    max_size: int | None = None,
    sha256: str | None = None,
    md5: str | None = None,
    upload_id: str | None = None,
    part_number: int | None = None,
) -> BlobGrant:
    return BlobGrant(
        method=method,
        key=key,
        expires=int(time.time()) + expires_in,
        max_size=max_size,
        sha256=sha256.lower() if sha256 else None,
        md5=md5.lower() if md5 else None,
        upload_id=upload_id,
        part_number=part_number,
    )
