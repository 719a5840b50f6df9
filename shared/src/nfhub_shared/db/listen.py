"""One PostgreSQL connection kept LISTENing on a channel, reconnecting with backoff.

NOTIFY is delivered at commit, to whoever listens at that moment: what is announced while the
connection is down is lost. ``on_listening`` runs each time the listener (re)starts hearing, so
its owner can make up for what it may have missed (forget caches, sweep for changes).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
import structlog

logger = structlog.get_logger("nfhub.listen")

RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg.connect takes libpq's URL, not SQLAlchemy's driver-qualified one."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


class ChannelListener:
    """``on_message(payload)`` for each notification; ``on_lost()`` when the connection goes
    (before a reconnect) and ``on_listening()`` once it hears again. Callbacks run on the event
    loop and must not block: hand work to a task or a queue."""

    def __init__(
        self,
        database_url: str,
        channel: str,
        on_message: Callable[[str], None],
        *,
        on_listening: Callable[[], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.channel = channel
        self.on_message = on_message
        self.on_listening = on_listening
        self.on_lost = on_lost
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"nfhub-listen-{self.channel}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self.on_message(payload)

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            lost = asyncio.Event()
            connection = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=10)
                connection.add_termination_listener(functools.partial(_set_event, lost))
                await connection.add_listener(self.channel, self._on_notification)
                if self.on_listening is not None:
                    self.on_listening()
                self.listening.set()
                delay = RETRY_FIRST_SECONDS
                await lost.wait()
                logger.warning("listener lost its connection; reconnecting", channel=self.channel)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning(
                    "listener cannot connect",
                    channel=self.channel,
                    error=type(exc).__name__,
                    retry=delay,
                )
            finally:
                self.listening.clear()
                if self.on_lost is not None:
                    self.on_lost()
                if connection is not None and not connection.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_SECONDS)


def _set_event(event: asyncio.Event, _connection: object) -> None:
    event.set()
