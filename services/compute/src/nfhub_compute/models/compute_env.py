from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base
from nfhub_shared.db.base import RecordMixin


class ComputeEnv(RecordMixin, Base):
    """Where an org's runs go: a backend, its folders, extra Nextflow config and options."""

    __tablename__ = "compute_envs"
    __table_args__ = (
        UniqueConstraint("org_id", "name"),
        # One primary per org: the environment of a launch that names none.
        Index(
            "ix_compute_envs_primary",
            "org_id",
            unique=True,
            postgresql_where=text("is_primary"),
        ),
    )

    org_id: Mapped[uuid.UUID]
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    backend: Mapped[str] = mapped_column(String(32))
    work_dir: Mapped[str] = mapped_column(Text)
    launch_dir: Mapped[str] = mapped_column(Text)
    nextflow_config: Mapped[str | None] = mapped_column(Text)
    pre_run_script: Mapped[str | None] = mapped_column(Text)
    post_run_script: Mapped[str | None] = mapped_column(Text)
    env_vars: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    backend_options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    max_active_runs: Mapped[int] = mapped_column(Integer, default=8)
    status: Mapped[str] = mapped_column(String(16), default="AVAILABLE")
    status_reason: Mapped[str | None] = mapped_column(Text)
    validated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    is_primary: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))
