"""Revocations pushed to every service the moment they commit.

admin's triggers (migration 0002) announce each change of access on the PostgreSQL channel
``nfhub_access`` (the payload names the table). Every other service keeps one connection
listening, and drops the identity answers the change concerns: the next request after the
revoking call's answer is checked against admin again, on every service. NOTIFY is delivered
at commit, and admin commits before it answers.

When the connection drops, nothing can be heard: the listener forgets everything it cached
(what changed meanwhile is unknown) and reconnects with backoff; until then the caches' TTL
bounds how long a revocation can go unseen.
"""

from __future__ import annotations

import asyncio

import structlog

from nfhub_shared.auth.identity import RemoteIdentity
from nfhub_shared.db.listen import ChannelListener, asyncpg_dsn

__all__ = ["CHANNEL", "AccessChangeListener", "asyncpg_dsn"]

logger = structlog.get_logger("nfhub.revocations")

CHANNEL = "nfhub_access"


class AccessChangeListener:
    def __init__(self, database_url: str, identity: RemoteIdentity) -> None:
        self.identity = identity
        # Whatever changed while nobody listened is unknown: forget all on (re)connect and loss.
        self._listener = ChannelListener(
            database_url,
            CHANNEL,
            self._on_notification,
            on_listening=identity.forget,
            on_lost=identity.forget,
        )

    @property
    def listening(self) -> asyncio.Event:
        return self._listener.listening

    def start(self) -> None:
        self._listener.start()

    async def stop(self) -> None:
        await self._listener.stop()

    def _on_notification(self, table: str) -> None:
        self.identity.forget(table)
        logger.debug("access changed", table=table)
