from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base


class StoredRunMetrics(Base):
    """A run's per-process summaries (GET /runs/{id}/metrics) as last computed.

    ``final``: computed after the run ended; it stands until a task of the run is written
    again (a trigger on tasks deletes it, migration 0014). Otherwise a running run's, served
    while young enough; ``refresh_requested_at``: a reader found it too old and asked the
    worker to compute it anew (cleared when stored). ``processes``: the answer's
    ProcessMetrics, as JSON.
    """

    __tablename__ = "run_metrics"
    # The worker's queue: the rows asked for anew.
    __table_args__ = (
        Index(
            None, "refresh_requested_at", postgresql_where=text("refresh_requested_at IS NOT NULL")
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    final: Mapped[bool] = mapped_column(Boolean)
    processes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    refresh_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
