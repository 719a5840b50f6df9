from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_files.models.base import Base
from nfhub_shared.db.base import RecordMixin


class MultipartUpload(RecordMixin, Base):
    """A large upload in parts; ``backend_upload_id`` is the store's own id (S3's UploadId)."""

    __tablename__ = "multipart_uploads"
    __table_args__ = (Index(None, "project_id", "created_at"),)

    project_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(Text)
    backend_upload_id: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(BigInteger)
    part_count: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="uploading")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
