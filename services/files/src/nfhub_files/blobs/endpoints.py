"""The local backend's blob endpoint: where signed URLs point. Authorised by the signature alone.

Mounted outside /api/v1 (no rate limit, no JSON body limit): a 1 TiB upload in parts must not
run into either.
"""

from __future__ import annotations

import os
import posixpath
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.requests import ClientDisconnect

from nfhub_files.responses import BLOB_DOWNLOAD, BLOB_UPLOAD
from nfhub_files.state import FilesState
from nfhub_files.storage.errors import ChecksumMismatch, UploadTooLarge
from nfhub_files.storage.local import LocalStorage, local_etag
from nfhub_files.storage.signing import BlobGrant
from nfhub_shared.errors import BadRequest, NotFound, PayloadTooLarge, ValidationFailed

router = APIRouter(prefix="/blobs", tags=["blobs"])

Signature = Annotated[str, Query(max_length=128)]
Expires = Annotated[int, Query(ge=0, le=2**40)]


class BlobFileResponse(FileResponse):
    # 1 MiB reads instead of 64 KiB: a quarter of the event-loop round trips per byte.
    chunk_size = 1024 * 1024

    def set_stat_headers(self, stat_result: os.stat_result) -> None:
        # The ETag the files API lists for this version (Starlette's own is of mtime and size
        # alone), from the same stat as the bytes sent: If-Range compares it.
        self.headers["etag"] = f'"{local_etag(stat_result)}"'
        super().set_stat_headers(stat_result)


def local_storage(request: Request) -> LocalStorage:
    """Called in the route rather than solved as a dependency: nothing more to solve per blob
    request, and on an S3 server the parameters' 422s still come before this 404."""
    storage = FilesState.of(request.app).storage
    if not isinstance(storage, LocalStorage):
        raise NotFound("This server stores files in S3; blob URLs come from S3 itself.")
    return storage


@router.head("/{key:path}", response_class=FileResponse, include_in_schema=False)
@router.get("/{key:path}", response_class=FileResponse, responses=BLOB_DOWNLOAD)
async def download_blob(
    key: str, request: Request, expires: Expires, signature: Signature
) -> FileResponse:
    """Download with a signed URL (from GET /api/v1/files/download-url); supports Range."""
    storage = local_storage(request)
    grant = BlobGrant("GET", key, expires, None, None, None, None, None)
    storage.signer.verify(grant, signature)
    # Only whether it is there (confined to the root); the response stats it for its headers.
    info = await storage.stat(key, checksum=False)
    if info is None:
        raise NotFound("The file no longer exists.")
    return BlobFileResponse(
        storage.path(key),
        filename=posixpath.basename(key),
        headers={"Cache-Control": "private, no-store"},
    )


@router.put("/{key:path}", responses=BLOB_UPLOAD)
async def upload_blob(
    key: str,
    request: Request,
    expires: Expires,
    signature: Signature,
    max_size: Annotated[int | None, Query(ge=0)] = None,
    sha256: Annotated[str | None, Query(max_length=64)] = None,
    md5: Annotated[str | None, Query(max_length=32)] = None,
    upload_id: Annotated[str | None, Query(max_length=64)] = None,
    part_number: Annotated[int | None, Query(ge=1, le=10_000)] = None,
) -> JSONResponse:
    """Upload with a signed URL (from POST /api/v1/files/upload-url or a multipart upload)."""
    storage = local_storage(request)
    grant = BlobGrant("PUT", key, expires, max_size, sha256, md5, upload_id, part_number)
    storage.signer.verify(grant, signature)
    limit = max_size if max_size is not None else storage.max_object_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"This URL accepts at most {limit} bytes.")
    try:
        if upload_id is not None and part_number is not None:
            info = await storage.receive_part(key, upload_id, part_number, request.stream(), limit)
        else:
            info = await storage.receive(
                key, request.stream(), max_size=limit, sha256=sha256, md5=md5
            )
    except UploadTooLarge as exc:
        raise PayloadTooLarge(f"This URL accepts at most {limit} bytes; nothing was kept.") from exc
    except ChecksumMismatch as exc:
        raise ValidationFailed(
            f"The uploaded bytes do not match the {exc.args[0]} given; nothing was kept."
        ) from exc
    except ClientDisconnect as exc:
        # A dropped connection is routine for big uploads, not a server error; nobody reads this.
        raise BadRequest("The upload was interrupted; nothing was kept. Upload again.") from exc
    headers = {"ETag": f'"{info.etag}"'} if info.etag else {}
    return JSONResponse({"key": key, "size": info.size}, headers=headers)
