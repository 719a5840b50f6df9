"""Every SQL statement on web's session table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_web.models import WebSession


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, web_session: WebSession) -> WebSession:
        self.session.add(web_session)
        await self.session.flush()
        return web_session

    async def by_secret_hash(self, secret_hash: str, *, lock: bool = False) -> WebSession | None:
        """The session a cookie names; ``lock`` holds its row until the transaction ends (and
        reads it afresh, after whoever held the lock before)."""
        statement = select(WebSession).where(WebSession.secret_hash == secret_hash)
        if lock:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        result: WebSession | None = await self.session.scalar(statement)
        return result

    async def delete(self, web_session: WebSession) -> None:
        await self.session.delete(web_session)
        await self.session.flush()

    async def purge_expired(self, now: datetime, idle_since: datetime) -> int:
        """Delete sessions whose login ran out or that sat unused past the idle limit."""
        result = await self.session.execute(
            delete(WebSession).where(
                (WebSession.refresh_expires_at <= now) | (WebSession.last_seen_at <= idle_since)
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def by_id(self, session_id: object) -> WebSession | None:
        result: WebSession | None = await self.session.get(WebSession, session_id)
        return result
