"""Multipart uploads: start (part URLs), resume (what is there, fresh URLs), complete, abort.

Only the StorageBackend interface is used, so local disk and S3 behave the same. The parts go
straight to the store through signed URLs; this service only plans them and checks them.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

from nfhub_files.config import Settings
from nfhub_files.context import ProjectChangeContext
from nfhub_files.files.repository import LockRepository
from nfhub_files.files.schemas import FileEntry
from nfhub_files.files.service import file_entry
from nfhub_files.models import MultipartUpload
from nfhub_files.multipart.errors import (
    InvalidPartPlan,
    MultipartUploadNotFound,
    PartMismatch,
    UploadIncomplete,
    UploadNotInProgress,
)
from nfhub_files.multipart.repository import MultipartUploadRepository
from nfhub_files.multipart.schemas import (
    MultipartUploadComplete,
    MultipartUploadCreate,
    MultipartUploadRead,
    PartUpload,
    UploadedPart,
)
from nfhub_files.storage.base import PartInfo
from nfhub_files.storage.errors import ObjectExists
from nfhub_files.storage.paths import normalise_path, object_key, relative_path
from nfhub_shared.errors import BadRequest, ValidationFailed

MIB = 1024**2
# Big enough that a 30 GB FASTQ needs a few hundred URLs, small enough that a retry is cheap.
DEFAULT_PART_BYTES = 64 * MIB
# S3's limit for one part; the local backend follows it so both refuse the same plans.
MAX_PART_BYTES = 5 * 1024**3
# An upload not completed by then is refused (its parts are dropped when it is aborted).
UPLOAD_TTL = timedelta(days=7)
MULTIPART_API = "/api/v1/files/multipart"


def plan_parts(size: int, part_size: int | None, settings: Settings) -> tuple[int, int]:
    """(part_size, part_count) for a file of ``size`` bytes; refuses plans the store would."""
    minimum = settings.MULTIPART_MIN_PART_BYTES
    max_parts = settings.MULTIPART_MAX_PARTS
    smallest_fitting = math.ceil(size / max_parts)
    if part_size is None:
        part_size = max(minimum, DEFAULT_PART_BYTES)
        if math.ceil(size / part_size) > max_parts:
            part_size = math.ceil(smallest_fitting / MIB) * MIB
    elif part_size < minimum and part_size < size:
        raise InvalidPartPlan(
            f"Parts must hold at least {minimum} bytes (only the last one may be smaller); "
            f"ask for part_size >= {minimum}, or leave it out to have one chosen."
        )
    part_size = min(part_size, size)
    if part_size > MAX_PART_BYTES:
        raise InvalidPartPlan(
            f"A part holds at most {MAX_PART_BYTES} bytes; ask for a smaller part_size."
        )
    part_count = math.ceil(size / part_size)
    if part_count > max_parts:
        raise InvalidPartPlan(
            f"{size} bytes in parts of {part_size} makes {part_count} parts, and an upload has "
            f"at most {max_parts}: ask for part_size >= {smallest_fitting}, or leave it out."
        )
    return part_size, part_count


def part_length(upload: MultipartUpload, part_number: int) -> int:
    """Bytes part ``part_number`` must hold: ``part_size``, except the last holds the rest."""
    if part_number < upload.part_count:
        return upload.part_size
    return upload.size - (upload.part_count - 1) * upload.part_size


def normalise_etag(etag: str) -> str:
    # S3 quotes ETags, and clients copy them from headers with or without the quotes.
    return etag.strip().strip('"').lower()


def numbers(values: Iterable[int]) -> str:
    """'2, 3 and 7'; long lists are cut short."""
    items = sorted(values)
    shown = [str(n) for n in items[:10]]
    if len(items) > 10:
        return f"{', '.join(shown)} and {len(items) - 10} more"
    if len(shown) == 1:
        return shown[0]
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def status_of(upload: MultipartUpload, now: datetime) -> str:
    if upload.status == "uploading" and upload.expires_at <= now:
        return "expired"
    return upload.status


class MultipartService(ProjectChangeContext):
    @cached_property
    def repository(self) -> MultipartUploadRepository:
        return MultipartUploadRepository(self.session)

    @cached_property
    def locks(self) -> LockRepository:
        return LockRepository(self.session)

    async def start(self, request: MultipartUploadCreate) -> MultipartUploadRead:
        relative = normalise_path(request.path)
        key = object_key(self.project_id, relative)
        if request.size > self.settings.MAX_OBJECT_BYTES:
            raise BadRequest(
                f"Files are at most {self.settings.MAX_OBJECT_BYTES} bytes; this one would be "
                f"{request.size}."
            )
        part_size, part_count = plan_parts(request.size, request.part_size, self.settings)
        if await self.storage.folder_exists(key + "/"):
            raise ObjectExists(f"{relative} is a folder; upload the file to a path inside it.")
        backend_upload_id = await self.storage.start_multipart(
            key, content_type=request.content_type, part_size=part_size
        )
        upload = await self.repository.add(
            MultipartUpload(
                project_id=self.project_id,
                key=key,
                backend_upload_id=backend_upload_id,
                size=request.size,
                part_size=part_size,
                part_count=part_count,
                content_type=request.content_type,
                created_by=self.access.principal.subject,
                status="uploading",
                expires_at=datetime.now(UTC) + UPLOAD_TTL,
            )
        )
        await self._audit(
            "multipart.start", upload, {"size": request.size, "part_count": part_count}
        )
        return await self._view(upload, stored=[])

    async def get(self, upload_id: uuid.UUID) -> MultipartUploadRead:
        upload = await self._get(upload_id)
        stored = await self._stored_parts(upload) if upload.status == "uploading" else []
        return await self._view(upload, stored=stored)

    async def complete(self, upload_id: uuid.UUID, request: MultipartUploadComplete) -> FileEntry:
        upload = await self._get(upload_id, for_update=True)
        self._require_in_progress(upload)
        wanted = range(1, upload.part_count + 1)
        etags = {part.part_number: part.etag for part in request.parts}
        if len(etags) != len(request.parts):
            counts = Counter(part.part_number for part in request.parts)
            repeated = [number for number, count in counts.items() if count > 1]
            raise ValidationFailed(f"Parts {numbers(repeated)} are listed twice; list each once.")
        unknown = [number for number in etags if number > upload.part_count]
        if unknown:
            raise ValidationFailed(
                f"This upload has {upload.part_count} parts; there is no part {numbers(unknown)}."
            )
        left_out = [number for number in wanted if number not in etags]
        if left_out:
            raise UploadIncomplete(
                f"The request leaves out parts {numbers(left_out)}; list every part from 1 to "
                f"{upload.part_count} with the ETag its PUT returned."
            )
        stored = {part.part_number: part for part in await self._stored_parts(upload)}
        missing = [number for number in wanted if number not in stored]
        if missing:
            raise UploadIncomplete(
                f"Parts {numbers(missing)} of {upload.part_count} have not been uploaded; "
                f"GET {MULTIPART_API}/{upload.id} gives fresh URLs for them."
            )
        wrong_size = [n for n in wanted if stored[n].size != part_length(upload, n)]
        if wrong_size:
            first = wrong_size[0]
            raise PartMismatch(
                f"Parts {numbers(wrong_size)} have the wrong size (part {first} holds "
                f"{stored[first].size} bytes, it should hold {part_length(upload, first)}), so "
                f"the parts do not add up to {upload.size} bytes; upload them again with the "
                f"URLs from GET {MULTIPART_API}/{upload.id}."
            )
        wrong_etag = [
            n for n in wanted if normalise_etag(etags[n]) != normalise_etag(stored[n].etag)
        ]
        if wrong_etag:
            raise PartMismatch(
                f"The ETags of parts {numbers(wrong_etag)} do not match what the store holds; "
                "send the ETag each part's PUT returned, or upload those parts again."
            )
        await self.locks.lock_keys(upload.key)
        if await self.storage.folder_exists(upload.key + "/"):
            raise ObjectExists(
                f"A folder {relative_path(self.project_id, upload.key)} was created meanwhile; "
                "move it away, then complete the upload again."
            )
        info = await self.storage.complete_multipart(
            upload.key, upload.backend_upload_id, [stored[number] for number in wanted]
        )
        await self.repository.update(upload, {"status": "completed"})
        await self._audit("multipart.complete", upload, {"size": info.size})
        return file_entry(self.project_id, info)

    async def abort(self, upload_id: uuid.UUID) -> None:
        upload = await self._get(upload_id, for_update=True)
        if upload.status == "aborted":
            return
        if upload.status == "completed":
            path = relative_path(self.project_id, upload.key)
            raise UploadNotInProgress(
                f"Upload {upload.id} was completed into {path}; to remove the file, "
                f"DELETE /api/v1/files?path={path}."
            )
        await self.storage.abort_multipart(upload.key, upload.backend_upload_id)
        await self.repository.update(upload, {"status": "aborted"})
        await self._audit("multipart.abort", upload, {})

    # -- helpers -------------------------------------------------------------------------------

    async def _get(self, upload_id: uuid.UUID, *, for_update: bool = False) -> MultipartUpload:
        upload = await self.repository.get_in_project(
            self.project_id, upload_id, for_update=for_update
        )
        if upload is None:
            raise MultipartUploadNotFound(f"No multipart upload {upload_id} in this project.")
        return upload

    def _require_in_progress(self, upload: MultipartUpload) -> None:
        status = status_of(upload, datetime.now(UTC))
        if status == "uploading":
            return
        path = relative_path(self.project_id, upload.key)
        if status == "expired":
            detail = (
                f"Upload {upload.id} expired at {upload.expires_at.isoformat()}; DELETE it and "
                f"start a new one for {path}."
            )
        elif status == "completed":
            detail = f"Upload {upload.id} is already complete: the file is at {path}."
        else:
            detail = f"Upload {upload.id} was aborted; start a new one for {path}."
        raise UploadNotInProgress(detail)

    async def _stored_parts(self, upload: MultipartUpload) -> list[PartInfo]:
        parts = await self.storage.list_parts(upload.key, upload.backend_upload_id)
        return [part for part in parts if 1 <= part.part_number <= upload.part_count]

    async def _view(
        self, upload: MultipartUpload, *, stored: list[PartInfo]
    ) -> MultipartUploadRead:
        now = datetime.now(UTC)
        status = status_of(upload, now)
        complete = {
            part.part_number
            for part in stored
            if part.size == part_length(upload, part.part_number)
        }
        parts: list[PartUpload] = []
        urls_expire_at = None
        if status == "uploading":
            expires_in = self.settings.URL_TTL_SECONDS
            urls_expire_at = now + timedelta(seconds=expires_in)
            for number in range(1, upload.part_count + 1):
                if number in complete:
                    continue
                size = part_length(upload, number)
                signed = await self.storage.presign_part(
                    upload.key,
                    upload.backend_upload_id,
                    number,
                    expires_in=expires_in,
                    size=size,
                )
                parts.append(
                    PartUpload(
                        part_number=number,
                        size=size,
                        url=signed.url,
                        method=signed.method,
                        headers=signed.headers,
                    )
                )
        return MultipartUploadRead(
            id=upload.id,
            path=relative_path(self.project_id, upload.key),
            size=upload.size,
            part_size=upload.part_size,
            part_count=upload.part_count,
            content_type=upload.content_type,
            status=status,
            parts=parts,
            # PartInfo's attributes are UploadedPart's fields.
            uploaded_parts=[UploadedPart.model_validate(part) for part in stored],
            urls_expire_at=urls_expire_at,
            expires_at=upload.expires_at,
            created_at=upload.created_at,
        )

    async def _audit(self, action: str, upload: MultipartUpload, details: dict[str, Any]) -> None:
        path = relative_path(self.project_id, upload.key)
        await self.record(action, "multipart_upload", {"path": path, **details}, upload.id)
