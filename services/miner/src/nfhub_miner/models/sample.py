from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import BigInteger, Computed, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_miner.models.base import Base
from nfhub_shared.db.base import RecordMixin


class Sample(RecordMixin, Base):
    """A biological sample and its data files, as sets (one per lane or replicate)."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("project_id", "display_id"),
        Index(None, "project_id", "created_at", "id"),
        Index(None, "project_id", "sample_type", "created_at"),
        Index(None, "project_id", "subject_id", "created_at"),
        Index(None, "tags", postgresql_using="gin"),
        Index(None, "search_vector", postgresql_using="gin"),
    )

    project_id: Mapped[uuid.UUID]
    subject_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("subjects.id"))
    display_id: Mapped[str] = mapped_column(String(100))
    sample_type: Mapped[str] = mapped_column(String(16), default="unknown")
    tissue: Mapped[str | None] = mapped_column(String(200))
    collection_date: Mapped[date | None] = mapped_column(Date)
    barcode: Mapped[str | None] = mapped_column(String(100))
    external_id: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # [{lane, replicate, paths: {role: path}, attributes: {...}}]: one samplesheet row each.
    files: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', search_text)", persisted=True)
    )
    created_by: Mapped[str] = mapped_column(String(64))


class ProjectCount(Base):
    """How many subjects and samples a project has: the `count` of an unfiltered list without
    counting a million rows on every page (kept in the same transaction as each change)."""

    __tablename__ = "project_counts"

    project_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
