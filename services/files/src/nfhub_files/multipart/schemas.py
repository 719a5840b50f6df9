from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from nfhub_files.storage.paths import ProjectPath
from nfhub_shared.schemas import ReadSchema, Schema

MAX_PART_NUMBER = 10_000

MultipartStatus = Literal["uploading", "completed", "aborted", "expired"]


class MultipartUploadCreate(Schema):
    path: ProjectPath
    size: int = Field(ge=1, description="Bytes of the whole file")
    part_size: int | None = Field(
        default=None,
        ge=1,
        description="Bytes of every part but the last; chosen for you when left out",
    )
    content_type: str | None = Field(default=None, max_length=255)


class PartUpload(ReadSchema):
    """Where and how to PUT one part; the response's ETag header is the part's etag."""

    part_number: int
    size: int = Field(description="Exact bytes this part must hold")
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Send these headers with the PUT")


class UploadedPart(ReadSchema):
    part_number: int
    size: int
    etag: str


class MultipartUploadRead(ReadSchema):
    id: uuid.UUID
    path: str
    size: int
    part_size: int
    part_count: int
    content_type: str | None
    status: MultipartStatus
    parts: list[PartUpload] = Field(
        description="Parts still to upload (missing, or of the wrong size), with fresh URLs"
    )
    uploaded_parts: list[UploadedPart] = Field(description="Parts the store holds already")
    urls_expire_at: datetime | None = Field(description="When the part URLs stop working")
    expires_at: datetime = Field(description="Complete the upload before this time")
    created_at: datetime


class CompletedPart(Schema):
    part_number: int = Field(ge=1, le=MAX_PART_NUMBER)
    etag: str = Field(min_length=1, max_length=1024, description="The ETag the part's PUT returned")


class MultipartUploadComplete(Schema):
    parts: list[CompletedPart] = Field(min_length=1, max_length=MAX_PART_NUMBER)
