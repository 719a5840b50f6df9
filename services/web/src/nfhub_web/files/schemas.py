"""What the Files pages read from the files API and send it, and the page's own values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import quote, urlencode

from pydantic import BaseModel, ConfigDict, Field

from nfhub_web.schemas import ApiModel

FILES_PER_PAGE = 100
# The longest path a page passes on; the files API has the last word on what a path may be.
MAX_PATH = 4096
ArchiveStatus = Literal["queued", "running", "ready", "failed"]


class FolderEntry(ApiModel):
    path: str
    name: str
    kind: Literal["file", "folder"]
    size: int | None = None
    modified: datetime | None = None


class DownloadUrl(ApiModel):
    path: str
    url: str


class DownloadUrls(ApiModel):
    items: list[DownloadUrl]


class UploadUrl(ApiModel):
    path: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)
    expires_at: datetime


class PartUpload(ApiModel):
    part_number: int
    size: int
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(default_factory=dict)


class UploadedPart(ApiModel):
    part_number: int
    size: int
    etag: str


class MultipartUpload(ApiModel):
    """A multipart upload as the files API tells it: the parts still to PUT (with fresh signed
    URLs) and those the store holds already, which is how a reloaded page resumes."""

    id: uuid.UUID
    path: str
    size: int
    part_size: int
    part_count: int
    status: str
    parts: list[PartUpload]
    uploaded_parts: list[UploadedPart]
    expires_at: datetime


class Archive(ApiModel):
    id: uuid.UUID
    name: str
    status: ArchiveStatus
    paths: list[str]
    file_count: int | None = None
    size: int | None = None
    error: str | None = None
    download_url: str | None = None
    created_at: datetime

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "running")


class UploadStart(BaseModel):
    """What the page's script asks for to upload one file (web passes it on as it is)."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=MAX_PATH)
    size: int = Field(ge=0)
    content_type: str | None = Field(default=None, max_length=255)
    part_size: int | None = Field(default=None, ge=1, description="Multipart uploads only")


class PartDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=1024)


class UploadFinish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parts: list[PartDone] = Field(min_length=1, max_length=10_000)


@dataclass(frozen=True)
class Crumb:
    name: str
    url: str


def folder_url(folder: str, offset: int = 0) -> str:
    params: list[tuple[str, str | int]] = [("path", folder)] if folder else []
    if offset:
        params.append(("offset", offset))
    # Slashes kept, as the listing's links (Jinja's urlencode) write them.
    return "/files" + (f"?{urlencode(params, quote_via=quote, safe='/')}" if params else "")


def breadcrumbs(folder: str) -> list[Crumb]:
    """``a/b/`` → the project's root, ``a``, ``a/b``: each a link to its listing."""
    crumbs = [Crumb("Project files", folder_url(""))]
    walked = ""
    for name in [part for part in folder.split("/") if part]:
        walked += f"{name}/"
        crumbs.append(Crumb(name, folder_url(walked)))
    return crumbs


def parent_of(path: str) -> str:
    """The folder holding ``path`` (a file, or a folder ending in ``/``), as listings name it."""
    trimmed = path.rstrip("/")
    return trimmed.rsplit("/", 1)[0] + "/" if "/" in trimmed else ""


def as_folder(path: str) -> str:
    """A folder path as the listing names folders: no leading slash, one trailing slash."""
    path = path.strip("/")
    return f"{path}/" if path else ""
