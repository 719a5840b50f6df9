from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from nfhub_files.storage.paths import ProjectPath
from nfhub_shared.schemas import ReadSchema, Schema

HEX_SHA256 = r"^[0-9a-fA-F]{64}$"
HEX_MD5 = r"^[0-9a-fA-F]{32}$"


class FileEntry(ReadSchema):
    path: str = Field(description="Relative to the project; folders end with '/'")
    name: str
    kind: Literal["file", "folder"]
    size: int | None = None
    modified: datetime | None = None
    etag: str | None = Field(
        default=None,
        description="This version of the file, as its download's ETag header names it (send it "
        "as If-Range to resume a download only if the file is unchanged); opaque, not a "
        "checksum of the bytes. Folders have none.",
    )
    sha256: str | None = Field(default=None, description="Checksum, when known")


class DownloadUrl(ReadSchema):
    path: str
    url: str
    method: Literal["GET"] = "GET"
    expires_at: datetime
    size: int


MAX_BATCH_PATHS = 500


class DownloadUrlsRequest(Schema):
    paths: list[ProjectPath] = Field(min_length=1, max_length=MAX_BATCH_PATHS)


class StatRequest(Schema):
    paths: list[ProjectPath] = Field(min_length=1, max_length=MAX_BATCH_PATHS)


class StatResult(ReadSchema):
    items: list[FileEntry] = Field(description="The paths that exist")
    missing: list[str] = Field(description="The paths that do not (normalised)")


class DownloadUrls(ReadSchema):
    items: list[DownloadUrl]


class UploadUrlRequest(Schema):
    path: ProjectPath
    size: int | None = Field(default=None, ge=0, description="Bytes; the URL refuses more")
    content_type: str | None = Field(default=None, max_length=255)
    sha256: str | None = Field(default=None, pattern=HEX_SHA256)
    md5: str | None = Field(default=None, pattern=HEX_MD5)


class UploadUrl(ReadSchema):
    path: str
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="Send these headers with the PUT")
    expires_at: datetime


class TransferRequest(Schema):
    src: ProjectPath
    dst: ProjectPath
    overwrite: bool = False


class TransferResult(ReadSchema):
    src: str
    dst: str
    objects: int = Field(description="Files copied or moved")


class FolderCreate(Schema):
    path: ProjectPath


class DeleteResult(ReadSchema):
    path: str
    objects: int = Field(description="Files deleted")
