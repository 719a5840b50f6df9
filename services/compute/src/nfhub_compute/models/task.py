from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base

# The tasks a run's metrics count, as Tower's ResourcesAggregator does: every task that ended
# (each attempt of a retried one is a task of its own), cached ones with the values of the
# run that computed them. Aborted tasks were killed part way and count nowhere.
METRIC_STATUSES = ("COMPLETED", "FAILED", "CACHED")
# As literals: the metrics statement's one parameter is the run.
METRIC_WHERE = f"status IN {METRIC_STATUSES!r}"


class Task(Base):
    """One Nextflow task of a run, keyed by Nextflow's own task id.

    The key is (run_id, task_id) rather than a UUID: events arrive by task id, and one index
    less per row keeps event ingestion cheap. Progress counters are counted from these rows
    (an index-only scan), so no counter row is locked by every event. (run_id, process,
    status) serves a run's metrics too: its ended tasks in process order (migration 0012).
    """

    __tablename__ = "tasks"
    __table_args__ = (
        Index(None, "run_id", "process", "status"),
        Index(None, "run_id", "status"),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    status_rank: Mapped[int] = mapped_column(SmallInteger)
    hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    process: Mapped[str] = mapped_column(String(500))
    tag: Mapped[str | None] = mapped_column(Text)
    native_id: Mapped[str | None] = mapped_column(String(200))
    exit_status: Mapped[int | None] = mapped_column(Integer)
    attempt: Mapped[int | None] = mapped_column(Integer)
    error_action: Mapped[str | None] = mapped_column(String(16))
    workdir: Mapped[str | None] = mapped_column(Text)
    container: Mapped[str | None] = mapped_column(Text)
    hostname: Mapped[str | None] = mapped_column(String(255))
    cpus: Mapped[int | None] = mapped_column(Integer)
    memory: Mapped[int | None] = mapped_column(BigInteger)
    # The time directive (Nextflow's trace field ``time``), milliseconds.
    time_ms: Mapped[int | None] = mapped_column(BigInteger)
    submit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    complete_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    realtime_ms: Mapped[int | None] = mapped_column(BigInteger)
    cpu_percent: Mapped[float | None] = mapped_column(Float)
    peak_rss: Mapped[int | None] = mapped_column(BigInteger)
    peak_vmem: Mapped[int | None] = mapped_column(BigInteger)
    read_bytes: Mapped[int | None] = mapped_column(BigInteger)
    write_bytes: Mapped[int | None] = mapped_column(BigInteger)
    trace: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
