from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base
from nfhub_shared.db.base import RecordMixin


class Pipeline(RecordMixin, Base):
    """A workflow an org can launch; ``org_id`` NULL marks a catalog pipeline (every org's)."""

    __tablename__ = "pipelines"
    __table_args__ = (
        # One slug per org, and one among catalog pipelines (NULL org ids are not distinct).
        UniqueConstraint("org_id", "slug", postgresql_nulls_not_distinct=True),
        Index(None, "visibility", "slug"),
    )

    org_id: Mapped[uuid.UUID | None]
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(16), default="org")
    from_catalog: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(64))


@dataclass(frozen=True)
class PipelineSourceRef:
    """Where a version's code is, as PipelineVersionRead shows it."""

    kind: str
    url: str | None
    revision: str | None
    path: str | None


class PipelineVersion(RecordMixin, Base):
    """An immutable release of a pipeline: where its code is and the schemas that drive it."""

    __tablename__ = "pipeline_versions"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "version"),
        Index(None, "pipeline_id", "created_at"),
        # WES finds the versions a workflow_url names by their source URL. A hash index: an
        # equality lookup, and a URL (up to 2,000 characters) may be too long for a btree.
        Index(None, "source_url", postgresql_using="hash"),
    )

    pipeline_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(100))
    source_kind: Mapped[str] = mapped_column(String(8))
    source_url: Mapped[str | None] = mapped_column(Text)
    revision: Mapped[str | None] = mapped_column(String(200))
    source_path: Mapped[str | None] = mapped_column(Text)
    # JSON, not JSONB: JSONB reorders keys, and a schema's order is the launch form's and the
    # samplesheet's column order.
    params_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input_schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    default_params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    profiles: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    deprecated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deprecation_note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(64))

    # What PipelineVersionRead shows beside the columns.

    @property
    def source(self) -> PipelineSourceRef:
        return PipelineSourceRef(self.source_kind, self.source_url, self.revision, self.source_path)

    @property
    def has_params_schema(self) -> bool:
        return self.params_schema is not None

    @property
    def has_input_schema(self) -> bool:
        return self.input_schema is not None

    @property
    def deprecated(self) -> bool:
        return self.deprecated_at is not None
