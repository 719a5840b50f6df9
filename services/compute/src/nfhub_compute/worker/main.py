"""``nfhub-compute-worker``: the heartbeat, the dispatcher, the reconcilers and the webhook
deliveries.

Run one per machine that may launch runs (several are fine), each with its host identity
(COMPUTE_WORKER_HOST). One worker per host reconciles that host's local runs; one worker of
all (the leader) reconciles the rest. Stopping a worker (SIGTERM, Ctrl-C, even kill -9)
leaves its runs running: the launchers are in their own process groups, and the next worker
of that host picks them up.
"""

from __future__ import annotations

import asyncio
import functools
import signal
from collections.abc import Callable
from typing import Any

import anyio
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.backends.factory import create_backend
from nfhub_compute.backends.pool import BackendPool
from nfhub_compute.config import Settings
from nfhub_compute.runs.repository import NOTIFY_CHANNEL
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.heartbeat import Heartbeat
from nfhub_compute.worker.reconciler import Reconciler
from nfhub_compute.worker.repository import (
    host_lock_key,
    listen,
    ping,
    try_leader_lock,
    try_lock,
)
from nfhub_compute.worker.webhooks import webhook_delivery
from nfhub_shared.db.engine import create_engine, create_read_pool, create_sessionmaker
from nfhub_shared.logging import configure_logging

logger = structlog.get_logger("nfhub.compute.worker")

COORDINATION_CHECK_SECONDS = 5.0
RETRY_SECONDS = 2.0
CLOSE_SECONDS = 5.0


class Coordinator:
    """One connection of the worker's own: LISTEN for wake-ups, and the reconcilers' locks
    (the leader's, and its host's).

    A lock lasts as long as the connection: if it drops, the lock goes with it and another
    worker may take over; this one tries again when it reconnects.
    """

    def __init__(self, engine: AsyncEngine, on_notify: Callable[[str], None], host: str) -> None:
        self.engine = engine
        self.on_notify = on_notify
        self.host = host
        self.is_leader = False
        self.is_host_leader = False

    def _callback(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.on_notify(payload)

    async def run(self) -> None:
        while True:
            try:
                async with self.engine.connect() as connection:
                    raw = await connection.get_raw_connection()
                    driver = raw.driver_connection
                    try:
                        await listen(driver, NOTIFY_CHANNEL, self._callback)
                        while True:
                            if not self.is_leader:
                                self.is_leader = await try_leader_lock(driver)
                                if self.is_leader:
                                    logger.info("this worker reconciles (leader)")
                            if not self.is_host_leader:
                                key = host_lock_key(self.host)
                                self.is_host_leader = await try_lock(driver, key)
                                if self.is_host_leader:
                                    logger.info("this worker reconciles its host's runs",
                                                host=self.host)  # fmt: skip
                            await anyio.sleep(COORDINATION_CHECK_SECONDS)
                            await ping(driver)
                    finally:
                        self.is_leader = self.is_host_leader = False
                        # Closing, not returning it to the pool, is what releases the lock;
                        # shielded, as this runs when the worker is being cancelled.
                        with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
                            await connection.invalidate()
            except Exception as exc:
                logger.warning("coordination connection lost", error=type(exc).__name__)
                self.is_leader = self.is_host_leader = False
                await anyio.sleep(RETRY_SECONDS)


class Worker:
    def __init__(self, settings: Settings, *, backend: JobBackend | None = None) -> None:
        self.settings = settings
        self.engine = create_engine(settings, application_name="compute-worker")
        self.sessionmaker = create_sessionmaker(self.engine)
        self.backend = backend or create_backend(settings)
        self.backends = BackendPool(settings, self.backend)
        self.heartbeat = Heartbeat(self.sessionmaker, settings, backend=self.backend.name)
        self.worker_id = self.heartbeat.worker.name
        self.dispatcher = Dispatcher(
            self.sessionmaker, self.backend, settings, self.worker_id, backends=self.backends
        )
        self.reconciler = Reconciler(self.sessionmaker, self.backend, settings, self.dispatcher)
        self.dispatch_wake = asyncio.Event()
        self.reconcile_wake = asyncio.Event()
        self.coordinator = Coordinator(self.engine, self._notified, settings.WORKER_HOST)
        self.webhooks = webhook_delivery(settings, lambda: self.sessionmaker)

    def _notified(self, payload: str) -> None:
        if payload.startswith("queued:"):
            self.dispatch_wake.set()
        else:
            self.reconcile_wake.set()

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        with anyio.move_on_after(seconds):
            await event.wait()
        event.clear()

    async def dispatch_loop(self) -> None:
        # Claimed runs are this host's: it is seen alive before it takes any.
        await self.heartbeat.beaten.wait()
        while True:
            try:
                claimed = await self.dispatcher.dispatch_once()
            except Exception as exc:  # the database is down, say: wait and try again
                logger.exception("dispatch failed", error=type(exc).__name__)
                claimed = 0
            if claimed == 0:
                await self._wait(self.dispatch_wake, self.settings.DISPATCH_POLL_SECONDS)

    async def reconcile_loop(self) -> None:
        while True:
            owned, shared = self.coordinator.is_host_leader, self.coordinator.is_leader
            if owned or shared:
                try:
                    await self.reconciler.reconcile_once(owned=owned, shared=shared)
                except Exception as exc:
                    logger.exception("reconcile failed", error=type(exc).__name__)
            await self._wait(self.reconcile_wake, self.settings.RECONCILE_INTERVAL_SECONDS)

    async def run(self) -> None:
        logger.info(
            "worker started",
            worker_id=self.worker_id,
            host=self.settings.WORKER_HOST,
            backend=self.backend.name,
        )
        # The loops' idle polls (is a run queued? has a pass anything to do?): single
        # statements on a connection of their own, autocommit, no pre-ping, past SQLAlchemy:
        # one round trip each, where a session's costs four and several times the CPU.
        polls = await create_read_pool(self.settings, application_name="compute-worker", size=1)
        self.dispatcher.polls = self.reconciler.polls = functools.partial(
            polls.acquire, timeout=self.settings.DATABASE_POOL_TIMEOUT_SECONDS
        )
        try:
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(self.heartbeat.run)
                tasks.start_soon(self.coordinator.run)
                tasks.start_soon(self.dispatch_loop)
                tasks.start_soon(self.reconcile_loop)
                tasks.start_soon(self.webhooks.run)
        finally:
            # Shielded: the loops above end by cancellation, and so would these awaits.
            with anyio.CancelScope(shield=True), anyio.move_on_after(CLOSE_SECONDS):
                await self.backends.close()
                await self.webhooks.deliverer.http.aclose()
                await polls.close()
                await self.engine.dispose()
            logger.info("worker stopped", worker_id=self.worker_id)


async def serve(settings: Settings) -> None:
    worker = Worker(settings)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(worker.run)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("stopping", signal=signal.Signals(signum).name)
                tasks.cancel_scope.cancel()
                break


def run() -> None:
    settings = Settings()
    configure_logging(settings.LOG_LEVEL, json=settings.LOG_JSON)
    anyio.run(serve, settings)


if __name__ == "__main__":
    run()
