"""Multipart uploads on the local disk.

An upload's staging folder holds the file being assembled (DATA_FILE), each part written
straight into its place in it (at (part_number - 1) * part_size, from PLAN_FILE), and a
record per part whose bytes are on the disk (part-NNNNN.done: its ETag and size).
Completing renames the file into place: no part is copied again, whatever its size.
Locks (flock): a part's PUT holds PLAN_FILE shared and its part-NNNNN.lock exclusive;
completing holds PLAN_FILE exclusive, so no part is written into a completed file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import anyio

from nfhub_files.storage.base import ObjectInfo, PartInfo, SignedRequest
from nfhub_files.storage.errors import ObjectNotFound
from nfhub_files.storage.local.disk import (
    ensure_folder,
    flush_handle,
    flush_path,
    object_info,
    write_record,
)
from nfhub_files.storage.local.locks import hold_lock
from nfhub_files.storage.local.objects import LocalObjects, grant
from nfhub_files.storage.local.writer import OverlappedWriter

MULTIPART_DIR = ".multipart"
PLAN_FILE = "plan"
DATA_FILE = "data"
PART_DONE_SUFFIX = ".done"
UPLOAD_GONE = "This multipart upload was completed or aborted."
UPLOAD_BUSY = (
    "Parts of this upload are still being sent; complete it once every part's PUT has answered."
)


def _part_file(staging: Path, part_number: int, suffix: str) -> Path:
    return staging / f"part-{part_number:05d}{suffix}"


class LocalMultipart(LocalObjects):
    """Multipart uploads, staged under the root's MULTIPART_DIR."""

    def _staging(self, upload_id: str) -> Path:
        uuid.UUID(upload_id)  # only our own ids name staging folders
        self._require_root()
        return self.root / MULTIPART_DIR / upload_id

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
            write_record(staging / PLAN_FILE, str(part_size), durable=self.durable)

        await anyio.to_thread.run_sync(create)
        return upload_id

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int, size: int
    ) -> SignedRequest:
        part_grant = grant(
            "PUT", key, expires_in, max_size=size, upload_id=upload_id, part_number=part_number
        )
        return SignedRequest("PUT", self.signer.url(part_grant), {})

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
            locks.append(
                await hold_lock(
                    staging / PLAN_FILE, fcntl.LOCK_SH, busy=UPLOAD_BUSY, gone=UPLOAD_GONE
                )
            )
            locks.append(
                await hold_lock(
                    _part_file(staging, part_number, ".lock"),
                    fcntl.LOCK_EX,
                    create=True,
                    gone=UPLOAD_GONE,
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
        writer = OverlappedWriter(handle, None, None, self.upload_memory)
        try:
            size = await writer.receive_all(chunks, max_size)
            etag = uuid.uuid4().hex

            def record(part: BinaryIO) -> None:
                if self.durable:
                    flush_handle(part)
                try:
                    write_record(done, f"{etag} {size}", durable=self.durable)
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
                    flush_path(staging)
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
        lock = await hold_lock(
            staging / PLAN_FILE, fcntl.LOCK_EX, busy=UPLOAD_BUSY, gone=UPLOAD_GONE
        )

        def finish() -> None:
            data = staging / DATA_FILE
            ensure_folder(destination.parent)
            try:
                # Its parts' places add up to it (the service checked every part's size).
                os.truncate(data, sum(part.size for part in parts))
                if self.durable:
                    flush_path(data)
                os.replace(data, destination)
            except FileNotFoundError as exc:
                raise ObjectNotFound(UPLOAD_GONE) from exc
            if self.durable:
                flush_path(destination.parent)
            shutil.rmtree(staging, ignore_errors=True)

        try:
            await anyio.to_thread.run_sync(finish)
        finally:
            os.close(lock)
        stat = destination.stat()
        return object_info(key, destination, stat)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        staging = self._staging(upload_id)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))
