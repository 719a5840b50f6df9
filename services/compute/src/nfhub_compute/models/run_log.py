from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base


class RunLogChunk(Base):
    """Lines of a run's log (Nextflow's own, or the console), shipped by the worker that can
    read them, so the API serves them without the launch folder.

    Chunks of one log follow each other: ``first_line`` of one is where the previous ended.
    The key makes shipping idempotent: a chunk shipped twice (a worker retrying) is kept once.
    """

    __tablename__ = "run_log_chunks"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(String(16), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_line: Mapped[int] = mapped_column(Integer)
    lines: Mapped[list[str]] = mapped_column(ARRAY(Text))
    byte_count: Mapped[int] = mapped_column(Integer)
    # Where this chunk ends in the file (bytes): the next pass reads from there, not from the
    # start. None for chunks shipped before it was kept.
    file_offset: Mapped[int | None] = mapped_column(BigInteger)
    # The last chunk of a log cut at COMPUTE_LOG_MAX_BYTES (its last line says so).
    truncated: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
