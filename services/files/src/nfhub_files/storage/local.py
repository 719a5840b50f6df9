"""Local-disk backend: objects are files under a root directory.

Signed URLs point at this service's own blob endpoint. Uploads stream to a temporary file next to
the destination and are renamed into place only when complete and verified, so a failed or
partial upload never leaves a half file at the final path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import hashlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import BinaryIO

import anyio

from nfhub_files.storage.base import (
    Listing,
    ObjectExists,
    ObjectInfo,
    ObjectNotFound,
    PartInfo,
    SignedRequest,
    StorageUnavailable,
)
from nfhub_files.storage.paths import RESERVED_PREFIX
from nfhub_files.storage.signing import BlobGrant, BlobSigner
from nfhub_files.storage.upload_memory import UploadMemory
from nfhub_shared.cache import ExpiringCache
from nfhub_shared.errors import Conflict

TEMP_PREFIX = RESERVED_PREFIX
MULTIPART_DIR = ".multipart"
PLAN_FILE = "plan"
DATA_FILE = "data"
PART_DONE_SUFFIX = ".done"
UPLOAD_GONE = "This multipart upload was completed or aborted."
UPLOAD_BUSY = (
    "Parts of this upload are still being sent; complete it once every part's PUT has answered."
)
# How long a part's PUT or a completion waits for the lock another request holds.
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.05
READ_CHUNK = 1024 * 1024
# An upload holds two of these (one being written, one being filled): 4 MiB uploads as fast
# as 8 MiB did here, and `nfhub files upload`'s four parts at once grow the service by ~30 MiB
# instead of ~71 MiB; 2 MiB was slower (paired runs against three services at once).
WRITE_BUFFER = 4 * 1024 * 1024
SHA256_XATTR = "user.nfhub.sha256"
# How long a project folder's resolved location is reused (it moves only by an operator's hand).
PROJECT_FOLDER_TTL_SECONDS = 5.0


class UploadTooLarge(Exception):
    pass


class ChecksumMismatch(Exception):
    pass


class UploadBusy(Conflict):
    title = "Upload busy"


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


def _read_sha256(path: Path | str) -> str | None:
    try:
        return os.getxattr(path, SHA256_XATTR, follow_symlinks=False).decode()
    except OSError:
        return None


def local_etag(stat: os.stat_result) -> str:
    """A file's version as this backend names it, in listings and in its downloads' ETag (so
    a resumed download's If-Range can tell a replaced file). Every write lands as a new file
    renamed into place, so a new version has a new inode or mtime; a move keeps both, as it
    keeps the bytes. Like S3's ETag it is opaque, not a checksum of the bytes (sha256 is)."""
    version = f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}".encode()
    return hashlib.blake2b(version, digest_size=16).hexdigest()


def _info(key: str, path: Path | str, stat: os.stat_result, *, checksum: bool = True) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        etag=local_etag(stat),
        sha256=_read_sha256(path) if checksum else None,
    )


class LocalStorage:
    name = "local"

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

    def _staging(self, upload_id: str) -> Path:
        uuid.UUID(upload_id)  # only our own ids name staging folders
        self._require_root()
        return self.root / MULTIPART_DIR / upload_id

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
        return _info(key, path, stat, checksum=checksum)

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
                objects.append(_info(prefix + name, directory / name, stat))
            listing = Listing([f"{prefix}{name}/" for name in folders], objects)
            return listing, len(folder_names) + len(file_names)

        return await anyio.to_thread.run_sync(scan)

    async def iter_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        base = self.path(prefix.rstrip("/"))

        def walk() -> list[ObjectInfo]:
            found: list[ObjectInfo] = []
            if base.is_file():
                return [_info(prefix.rstrip("/"), base, base.stat())]
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
                    found.append(_info(key, path, path.stat()))
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
        return self.signer.url(_grant("GET", key, expires_in))

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
        grant = _grant(
            "PUT", key, expires_in, max_size=size or self.max_object_bytes, sha256=sha256, md5=md5
        )
        headers = {"Content-Type": content_type} if content_type else {}
        return SignedRequest("PUT", self.signer.url(grant), headers)

    # -- writing -------------------------------------------------------------------------------

    async def make_folder(self, prefix: str) -> None:
        path = self.path(prefix.rstrip("/"))
        await anyio.to_thread.run_sync(_make_folder, path)

    async def copy_object(self, source: str, destination: str) -> None:
        source_path, destination_path = self.path(source), self.path(destination)

        def copy() -> None:
            _make_folder(destination_path.parent)
            temporary = destination_path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
            try:
                shutil.copy2(source_path, temporary)
                sha256 = _read_sha256(source_path)
                if sha256:
                    _write_sha256(temporary, sha256)
                if self.durable:
                    _flush_path(temporary)
                os.replace(temporary, destination_path)
                if self.durable:
                    _flush_path(destination_path.parent)
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
            _make_folder(destination_path.parent)
            os.rename(source_path, destination_path)
            if self.durable:
                for folder in {destination_path.parent, source_path.parent}:
                    _flush_path(folder)

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
        await anyio.to_thread.run_sync(_make_folder, destination.parent)
        temporary = destination.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
        sha256_hash = hashlib.sha256() if sha256 else None
        md5_hash = hashlib.md5(usedforsecurity=False) if md5 else None
        handle = await anyio.to_thread.run_sync(temporary.open, "wb")
        writer = _OverlappedWriter(handle, sha256_hash, md5_hash, self.upload_memory)
        try:
            await writer.receive_all(chunks, max_size)
            if sha256 and sha256_hash and sha256_hash.hexdigest() != sha256.lower():
                raise ChecksumMismatch("sha256")
            if md5 and md5_hash and md5_hash.hexdigest() != md5.lower():
                raise ChecksumMismatch("md5")

            def put_in_place() -> os.stat_result:
                if sha256:
                    _write_sha256(temporary, sha256.lower())
                if self.durable:
                    _flush_handle(handle)
                # This upload's file, even if another has replaced it by the time we answer.
                written = os.fstat(handle.fileno())
                handle.close()
                os.replace(temporary, destination)
                if self.durable:
                    _flush_path(destination.parent)
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
        info = _info(key, destination, stat, checksum=False)
        return dataclasses.replace(info, sha256=sha256.lower() if sha256 else None)

    # -- multipart -----------------------------------------------------------------------------
    #
    # An upload's staging folder holds the file being assembled (DATA_FILE), each part written
    # straight into its place in it (at (part_number - 1) * part_size, from PLAN_FILE), and a
    # record per part whose bytes are on the disk (part-NNNNN.done: its ETag and size).
    # Completing renames the file into place: no part is copied again, whatever its size.
    # Locks (flock): a part's PUT holds PLAN_FILE shared and its part-NNNNN.lock exclusive;
    # completing holds PLAN_FILE exclusive, so no part is written into a completed file.

    async def start_multipart(
        self, key: str, *, content_type: str | None, part_size: int | None = None
    ) -> str:
        if part_size is None or part_size < 1:
            raise ValueError("the local backend places each part by the part size: give it")
        upload_id = str(uuid.uuid4())
        staging = self._staging(upload_id)

        def create() -> None:
            staging.mkdir(parents=True, exist_ok=False)
            (staging / DATA_FILE).touch(exist_ok=False)
            _write_record(staging / PLAN_FILE, str(part_size), durable=self.durable)

        await anyio.to_thread.run_sync(create)
        return upload_id

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int, size: int
    ) -> SignedRequest:
        grant = _grant(
            "PUT", key, expires_in, max_size=size, upload_id=upload_id, part_number=part_number
        )
        return SignedRequest("PUT", self.signer.url(grant), {})

    async def receive_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        chunks: AsyncIterator[bytes],
        max_size: int,
    ) -> ObjectInfo:
        staging = self._staging(upload_id)
        done = _part_file(staging, part_number, PART_DONE_SUFFIX)
        locks: list[int] = []
        handle: BinaryIO | None = None

        def release() -> None:
            if handle is not None:
                handle.close()
            for descriptor in locks:
                os.close(descriptor)  # which releases its lock

        try:
            locks.append(await _lock(staging / PLAN_FILE, fcntl.LOCK_SH, busy=UPLOAD_BUSY))
            locks.append(
                await _lock(
                    _part_file(staging, part_number, ".lock"),
                    fcntl.LOCK_EX,
                    create=True,
                    busy=f"Part {part_number} is being uploaded by another request; "
                    "retry once that one has answered.",
                )
            )
            handle = await anyio.to_thread.run_sync(self._open_part, staging, done, part_number)
        except BaseException:
            release()
            raise
        # The ETag names this write of the part, not its bytes (S3 promises no more: its ETags
        # are md5s only for some objects). Completing checks that the client has the writes the
        # store holds; an md5 of every part cost 1.4 s of CPU per GiB for that.
        writer = _OverlappedWriter(handle, None, None, self.upload_memory)
        try:
            size = await writer.receive_all(chunks, max_size)
            etag = uuid.uuid4().hex

            def record(part: BinaryIO) -> None:
                if self.durable:
                    _flush_handle(part)
                try:
                    _write_record(done, f"{etag} {size}", durable=self.durable)
                except FileNotFoundError as exc:
                    raise ObjectNotFound(UPLOAD_GONE) from exc

            await anyio.to_thread.run_sync(record, handle)
        except BaseException as exc:
            # The locks are held until no write is in flight: a retry of this part must not
            # write beside a thread still writing the first attempt's bytes.
            await writer.abandon(release, wait=isinstance(exc, Exception))
            raise
        release()
        return ObjectInfo(key=key, size=size, modified=datetime.now(UTC), etag=etag)

    def _open_part(self, staging: Path, done: Path, part_number: int) -> BinaryIO:
        """The assembled file, at this part's place; a part uploaded again first loses its
        record, for good (else a crash could leave the old record over the new bytes)."""
        try:
            part_size = int((staging / PLAN_FILE).read_text())
            with contextlib.suppress(FileNotFoundError):
                done.unlink()
                if self.durable:
                    _flush_path(staging)
            handle = (staging / DATA_FILE).open("r+b")
        except FileNotFoundError as exc:
            raise ObjectNotFound(UPLOAD_GONE) from exc
        handle.seek((part_number - 1) * part_size)
        return handle

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        staging = self._staging(upload_id)

        def scan() -> list[PartInfo]:
            parts = []
            for path in sorted(staging.glob(f"part-*{PART_DONE_SUFFIX}")):
                try:
                    etag, size = path.read_text().split()
                except (FileNotFoundError, ValueError):
                    continue  # gone since the scan (uploaded again, or the upload ended)
                parts.append(PartInfo(int(path.name[5:10]), int(size), etag))
            return parts

        return await anyio.to_thread.run_sync(scan)

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[PartInfo]
    ) -> ObjectInfo:
        if [part.part_number for part in parts] != list(range(1, len(parts) + 1)):
            raise ValueError("the local backend completes an upload of all its parts, in order")
        staging = self._staging(upload_id)
        destination = self.path(key)
        lock = await _lock(staging / PLAN_FILE, fcntl.LOCK_EX, busy=UPLOAD_BUSY)

        def finish() -> None:
            data = staging / DATA_FILE
            _make_folder(destination.parent)
            try:
                # Its parts' places add up to it (the service checked every part's size).
                os.truncate(data, sum(part.size for part in parts))
                if self.durable:
                    _flush_path(data)
                os.replace(data, destination)
            except FileNotFoundError as exc:
                raise ObjectNotFound(UPLOAD_GONE) from exc
            if self.durable:
                _flush_path(destination.parent)
            shutil.rmtree(staging, ignore_errors=True)

        try:
            await anyio.to_thread.run_sync(finish)
        finally:
            os.close(lock)
        stat = destination.stat()
        return _info(key, destination, stat)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        staging = self._staging(upload_id)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))

    async def close(self) -> None:
        return None


def _grant(
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


def _make_folder(path: Path) -> None:
    """``path`` and its parents; a file in the way is the client's conflict, not a 500."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ObjectExists(
            "A file is in the way: a folder on this path is a file; choose another path."
        ) from exc


class _OverlappedWriter:
    """Writes a received buffer in a worker thread while the event loop receives the next.

    Receiving and writing in turn, an upload ran at neither the network's nor the disk's
    speed: while a buffer was written nothing was read from the socket, and the client
    stalled. With one write in flight, at most two buffers are held (bench/files.py).
    """

    def __init__(
        self,
        handle: BinaryIO,
        sha256: hashlib._Hash | None,
        md5: hashlib._Hash | None,
        memory: UploadMemory,
    ) -> None:
        self._handle = handle
        self._sha256 = sha256
        self._md5 = md5
        self._memory = memory
        self._pending: asyncio.Future[None] | None = None

    async def receive_all(self, chunks: AsyncIterator[bytes], max_size: int) -> int:
        """Write ``chunks`` from the file's position; the bytes written. More than ``max_size``
        raises UploadTooLarge."""
        received = 0
        # The chunks as they came, not joined: joining would copy every byte once more on
        # the event loop's thread, which is what limits an upload's speed (bench/files.py).
        buffered: list[bytes] = []
        buffered_bytes = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > max_size:
                    raise UploadTooLarge
                if not self._memory.try_take(len(chunk)):
                    # Over the process's bound: what this upload holds goes to the disk, and
                    # it reads on once written bytes (its own or others') have made room.
                    full, buffered, buffered_bytes = buffered, [], 0
                    if full:
                        await self.write(full)
                    await self._memory.take(len(chunk))
                buffered.append(chunk)
                buffered_bytes += len(chunk)
                if buffered_bytes >= WRITE_BUFFER:
                    full, buffered, buffered_bytes = buffered, [], 0
                    await self.write(full)
            if buffered:
                full, buffered, buffered_bytes = buffered, [], 0
                await self.write(full)
        finally:
            # Bytes of a refused or cancelled upload that no write took (a write in flight
            # gives its own back when it ends).
            self._memory.give_back(buffered_bytes)
        await self.wait()
        return received

    async def write(self, chunks: list[bytes]) -> None:
        """Hand ``chunks`` (their memory taken) to a worker thread, once the last is written."""
        size = sum(map(len, chunks))
        try:
            await self.wait()
        except BaseException:
            self._memory.give_back(size)
            raise
        # In anyio's worker threads, like every other file operation here.
        self._pending = asyncio.ensure_future(
            anyio.to_thread.run_sync(_write_and_hash, self._handle, chunks, self._sha256, self._md5)
        )
        self._pending.add_done_callback(lambda _: self._memory.give_back(size))

    async def wait(self) -> None:
        """Until the write in flight is done; its error, if any, is raised here."""
        if self._pending is not None:
            # Shielded: a cancelled request must not forget a write its thread still makes.
            await asyncio.shield(self._pending)
            self._pending = None

    async def abandon(self, cleanup: Callable[[], None], *, wait: bool) -> None:
        """Run ``cleanup`` once no write is in flight: after waiting for it, or (``wait``
        false, for a cancelled request, which must not wait) when its thread finishes."""
        pending, self._pending = self._pending, None
        if pending is None:
            cleanup()
            return

        def finished(future: asyncio.Future[None]) -> None:
            # Its error, if any, is not the one to report (the request's own is), but it is
            # retrieved, so that asyncio does not log it as forgotten.
            if not future.cancelled():
                future.exception()
            cleanup()

        try:
            if wait and not pending.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending)
        finally:
            # Also when the request is cancelled while it waits here.
            if pending.done():
                finished(pending)
            else:
                pending.add_done_callback(finished)


def _write_and_hash(
    handle: BinaryIO,
    chunks: list[bytes],
    sha256: hashlib._Hash | None,
    md5: hashlib._Hash | None,
) -> None:
    handle.writelines(chunks)
    for chunk in chunks:
        if sha256 is not None:
            sha256.update(chunk)
        if md5 is not None:
            md5.update(chunk)


def _write_sha256(path: Path, value: str) -> None:
    # A filesystem without user xattrs: the checksum is simply not remembered.
    with contextlib.suppress(OSError):
        os.setxattr(path, SHA256_XATTR, value.encode())


def _write_record(path: Path, text: str, *, durable: bool) -> None:
    """A small file, whole or not at all (written aside, then renamed)."""
    temporary = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    try:
        with temporary.open("wb") as handle:
            handle.write(f"{text}\n".encode())
            if durable:
                _flush_handle(handle)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if durable:
        _flush_path(path.parent)


def _part_file(staging: Path, part_number: int, suffix: str) -> Path:
    return staging / f"part-{part_number:05d}{suffix}"


async def _lock(path: Path, mode: int, *, busy: str, create: bool = False) -> int:
    """An open descriptor of ``path`` holding a ``flock`` (shared or exclusive); closing it lets
    go. Waited for without a thread, by polling, for up to LOCK_WAIT_SECONDS, then a 409."""
    flags = os.O_RDONLY | (os.O_CREAT if create else 0)
    try:
        descriptor = await anyio.to_thread.run_sync(os.open, path, flags, 0o600)
    except FileNotFoundError as exc:
        raise ObjectNotFound(UPLOAD_GONE) from exc
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    try:
        while True:
            try:
                fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UploadBusy(busy) from None
                await asyncio.sleep(LOCK_POLL_SECONDS)
    except BaseException:
        os.close(descriptor)
        raise


def _flush_handle(handle: BinaryIO) -> None:
    """Until the file's bytes are on the disk, not only in the page cache."""
    handle.flush()
    os.fsync(handle.fileno())


def _flush_path(path: Path) -> None:
    """A file's bytes, or a folder's names (where a rename lives), until on the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
