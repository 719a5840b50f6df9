"""Every SQL statement on web's session table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from nfhub_shared.db.repository import Repository
from nfhub_web.models import WebSession


class SessionRepository(Repository[WebSession]):
    model = WebSession

    async def by_secret_hash(self, secret_hash: str, *, lock: bool = False) -> WebSession | None:
        """The session a cookie names; ``lock`` holds its row until the transaction ends (and
        reads it afresh, after whoever held the lock before)."""
        statement = select(WebSession).where(WebSession.secret_hash == secret_hash)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        result: WebSession | None = await self.session.scalar(statement)
        return result

    async def purge_expired(self, now: datetime, idle_since: datetime) -> int:
        """Delete sessions whose login ran out or that sat unused past the idle limit."""
        result = await self.session.execute(
            delete(WebSession).where(
                (WebSession.refresh_expires_at <= now) | (WebSession.last_seen_at <= idle_since)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
