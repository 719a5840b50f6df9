from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nfhub_shared.db.base import RecordMixin
from nfhub_web.models.base import Base


class WebSession(RecordMixin, Base):
    """A browser's login: the user's tokens, kept here so the browser never holds them.

    The browser holds a random secret (the session cookie); only its SHA-256 is stored, so a
    copy of this table opens no session. The tokens are sealed (AES-256-GCM, bound to the
    row's id) under WEB_SESSION_KEY.
    """

    __tablename__ = "sessions"

    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    username: Mapped[str] = mapped_column(String(320), nullable=False)
    display_name: Mapped[str | None] = mapped_column(String(320))
    access_token_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    access_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    refresh_token_sealed: Mapped[str] = mapped_column(Text, nullable=False)
    refresh_expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The CSRF token of every form and htmx request of this session.
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    # The org and project the pages show (the user's pick, kept for the header).
    org_id: Mapped[uuid.UUID | None] = mapped_column()
    org_name: Mapped[str | None] = mapped_column(String(200))
    project_id: Mapped[uuid.UUID | None] = mapped_column()
    project_name: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        # Expired sessions are purged by this index.
        Index(None, "refresh_expires_at"),
        Index(None, "user_id"),
    )
