from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

from nfhub_files.storage.paths import ProjectPathOrRoot
from nfhub_shared.schemas import ReadSchema, Schema

ArchiveStatus = Literal["queued", "running", "ready", "failed"]
MAX_ARCHIVE_PATHS = 1000


class ArchiveCreate(Schema):
    paths: list[ProjectPathOrRoot] = Field(min_length=1, max_length=MAX_ARCHIVE_PATHS)
    name: str = Field(
        min_length=1,
        max_length=255,
        # A file name for the download: no folders, no control characters.
        pattern=r"^[^/\\\x00-\x1f\x7f]+$",
        description="File name of the zip ('.zip' is added when missing)",
    )


class ArchiveRead(ReadSchema):
    id: uuid.UUID
    name: str
    status: ArchiveStatus
    paths: list[str] = Field(description="What was asked for; folders end with '/'")
    file_count: int | None = None
    size: int | None = Field(default=None, description="Bytes of the zip")
    error: str | None = None
    download_url: str | None = Field(default=None, description="A signed GET URL, when ready")
    download_url_expires_at: datetime | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
