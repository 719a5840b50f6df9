from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlalchemy import Computed, Date, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_miner.models.base import Base
from nfhub_shared.db.base import RecordMixin


class Subject(RecordMixin, Base):
    """A person (or animal, cell line…) samples are taken from."""

    __tablename__ = "subjects"
    __table_args__ = (
        UniqueConstraint("project_id", "display_id"),
        Index(None, "project_id", "created_at", "id"),
        Index(None, "tags", postgresql_using="gin"),
        Index(None, "search_vector", postgresql_using="gin"),
    )

    project_id: Mapped[uuid.UUID]
    display_id: Mapped[str] = mapped_column(String(100))
    sex: Mapped[str] = mapped_column(String(8), default="unknown")
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    external_id: Mapped[str | None] = mapped_column(String(200))
    diagnosis: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # display_id, external_id, tags and property values, lower-cased: what free-text search
    # matches, word by word (prefixes too), through the GIN index on search_vector. Kept by the
    # service on every write; search_vector follows by itself.
    search_text: Mapped[str] = mapped_column(Text, default="")
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR, Computed("to_tsvector('simple', search_text)", persisted=True)
    )
    created_by: Mapped[str] = mapped_column(String(64))
