from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_miner.models.base import Base
from nfhub_shared.db.base import IdMixin, RecordMixin, utcnow


class Order(RecordMixin, Base):
    """A request to analyse samples with a pipeline, moved through its status machine."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("project_id", "display_id"),
        Index(None, "project_id", "created_at", "id"),
        Index(None, "project_id", "status", "created_at"),
        Index(None, "project_id", "pipeline_slug", "created_at"),
        Index(None, "tags", postgresql_using="gin"),
        Index(None, "run_id", postgresql_where=text("run_id IS NOT NULL")),
        # The launch form's orders: those with a samplesheet, newest first.
        Index(
            "ix_orders_project_id_created_at_id_with_samplesheet",
            "project_id",
            "created_at",
            "id",
            postgresql_where=text("samplesheet_path IS NOT NULL"),
        ),
    )

    project_id: Mapped[uuid.UUID]
    display_id: Mapped[str] = mapped_column(String(100))
    pipeline_slug: Mapped[str] = mapped_column(String(100))
    pipeline_version: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    mode: Mapped[str] = mapped_column(String(32), default="standard")
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    notes: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(100)), default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="created")
    status_changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    run_id: Mapped[uuid.UUID | None]
    samplesheet_path: Mapped[str | None] = mapped_column(Text)
    # How the run ended (compute's final state, its reason, when miner heard): null while it runs.
    run_end_state: Mapped[str | None] = mapped_column(String(16))
    run_end_reason: Mapped[str | None] = mapped_column(Text)
    run_ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))


class OrderSample(Base):
    """A sample in an order, with its role there (proband, tumour, normal…)."""

    __tablename__ = "order_samples"
    __table_args__ = (
        Index(None, "order_id", "position"),
        Index(None, "sample_id"),
    )

    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    sample_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("samples.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OrderTransition(IdMixin, Base):
    """One move of an order's status: who, when, from, to."""

    __tablename__ = "order_transitions"
    __table_args__ = (Index(None, "order_id", "occurred_at"),)

    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None]
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
