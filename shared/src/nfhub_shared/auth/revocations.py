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
import contextlib
import functools

import asyncpg  # type: ignore[import-untyped]
import structlog

from nfhub_shared.auth.identity import RemoteIdentity

logger = structlog.get_logger("nfhub.revocations")

CHANNEL = "nfhub_access"
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg.connect takes libpq's URL, not SQLAlchemy's driver-qualified one."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class AccessChangeListener:
    def __init__(self, database_url: str, identity: RemoteIdentity) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.identity = identity
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="nfhub-access-listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notification(self, _connection: object, _pid: int, _channel: str, table: str) -> None:
        self.identity.forget(table)
        logger.debug("access changed", table=table)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            lost = asyncio.Event()
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10)
                connection.add_termination_listener(functools.partial(_set_event, lost))
                await connection.add_listener(CHANNEL, self._on_notification)
                # Whatever changed while nobody listened is unknown.
                self.identity.forget()
                self.listening.set()
                delay = RETRY_FIRST_SECONDS
                await lost.wait()
                logger.warning("access change listener lost its connection; reconnecting")
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning(
                    "access change listener cannot connect", error=type(exc).__name__, retry=delay
                )
            finally:
                self.listening.clear()
                self.identity.forget()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def _set_event(event: asyncio.Event, _connection: object) -> None:
    event.set()
