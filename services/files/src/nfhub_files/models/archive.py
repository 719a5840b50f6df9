from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_files.models.base import Base
from nfhub_shared.db.base import RecordMixin


class Archive(RecordMixin, Base):
    """A zip of many files, built in the background (Flow.bio-style bulk download)."""

    __tablename__ = "archives"
    __table_args__ = (
        Index(None, "project_id", "created_at"),
        Index(None, "status", "created_at"),
    )

    project_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(255))
    paths: Mapped[list[Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    key: Mapped[str | None] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    file_count: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
