from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base


class RunEvent(Base):
    """One change of a run (its state, a task's status, its progress, log lines), as the live
    streams deliver it. Written only by the triggers of migration 0006_run_event_feed; read in
    (xid, id) order, and only below the oldest running transaction (see that migration)."""

    __tablename__ = "run_events"
    __table_args__ = (
        Index(None, "xid", "id"),
        Index(None, "run_id", "xid", "id"),
        Index(None, "project_id", "xid", "id"),
        Index(None, "created_at", postgresql_using="brin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    # The writing transaction's id (pg_current_xact_id(), 64 bits with its epoch).
    xid: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(16))
    # The run's state when the event was written.
    state: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
