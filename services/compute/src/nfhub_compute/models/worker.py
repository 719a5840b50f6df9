from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base
from nfhub_shared.db.base import RecordMixin


class ComputeWorker(RecordMixin, Base):
    """One worker process, as its heartbeats tell: a host is alive while one of its workers is.

    The id is the process's own (made at start); a restarted worker is a new row of the same
    host. Rows of workers gone for long are pruned by the heartbeats of the others.
    """

    __tablename__ = "workers"
    __table_args__ = (
        # Is the host alive (its newest heartbeat), and the pruning of old rows.
        Index(None, "host", "last_seen_at"),
        Index(None, "last_seen_at"),
    )

    host: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(64))
    backend: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
