from __future__ import annotations

import uuid

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_compute.models.base import Base
from nfhub_shared.db.base import RecordMixin


class PipelineSecret(RecordMixin, Base):
    """A value a pipeline reads as ``secrets.NAME``: an org's (project_id NULL) or a project's.

    Only the AES-GCM ciphertext is stored (nfhub_compute.secrets.crypto); the value is
    decrypted by the worker when it launches a run that names the secret, and nowhere else.
    """

    __tablename__ = "pipeline_secrets"
    __table_args__ = (
        # One org secret and one per project of each name; its index serves every lookup
        # (org_id first: the list of a project shows the org's too).
        UniqueConstraint("org_id", "project_id", "name", postgresql_nulls_not_distinct=True),
    )

    org_id: Mapped[uuid.UUID]
    project_id: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(100))
    sealed_value: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    updated_by: Mapped[str] = mapped_column(String(64))

    @property
    def scope(self) -> str:
        return "org" if self.project_id is None else "project"
