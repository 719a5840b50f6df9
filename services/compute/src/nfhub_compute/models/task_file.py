from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base

# The files of a task's work dir nfhub ships, by the name the API gives them.
TASK_FILES = {
    "stdout": ".command.out",
    "stderr": ".command.err",
    "log": ".command.log",
    "script": ".command.sh",
}


class TaskFileFetch(Base):
    """Whether a task's files were shipped from its work dir, or are asked for.

    The worker that owns the run reads the work dir (the API never does): on its own for a
    failed task, and when the API asks (a ``pending`` row, made by a reader of the task's
    files). ``shipped``: the files are in task_files; ``gone``: the work dir could not be
    read (``detail`` says why).
    """

    __tablename__ = "task_file_fetches"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"], ondelete="CASCADE"
        ),
        # The workers' queue: the pending requests only.
        Index(
            None,
            "requested_at",
            postgresql_where=text("state = 'pending'"),
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class TaskFile(Base):
    """One file of a task's work dir as the worker shipped it: redacted, at most
    COMPUTE_TASK_LOG_MAX_BYTES (head and tail around a marker line when longer)."""

    __tablename__ = "task_files"
    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "task_id"], ["tasks.run_id", "tasks.task_id"], ondelete="CASCADE"
        ),
    )

    run_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    file: Mapped[str] = mapped_column(String(16), primary_key=True)
    content: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    truncated: Mapped[bool] = mapped_column(default=False)
    shipped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
