"""The delivery loop: claims due deliveries from the outbox, POSTs them signed, records each
attempt and schedules the next (or gives up: FAILED).

It never runs inside a request: compute's worker runs it, miner a lifespan task; several
processes may run it at once (claims skip rows another holds, and a claim is a lease the
next worker takes over if this one dies mid-attempt). Woken by NOTIFY on the service's
channel, at the next due retry, and by a periodic sweep for whatever a lost connection
missed. Time comes from ``clock`` (tests move it by hand).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_shared.db.listen import ChannelListener
from nfhub_shared.webhooks.http import AttemptOutcome, DeliveryPolicy, new_http_client, post_signed
from nfhub_shared.webhooks.models import DeliveryColumns, DeliveryState, WebhookColumns
from nfhub_shared.webhooks.repository import WebhookRepository, build
from nfhub_shared.webhooks.schedule import next_delay
from nfhub_shared.webhooks.service import Sealer, secret_binding
from nfhub_shared.webhooks.settings import WebhookSettings
from nfhub_shared.webhooks.signing import signed_headers

logger = structlog.get_logger("nfhub.webhooks")

Repo = WebhookRepository[Any, Any, Any]
Sessions = Callable[[], async_sessionmaker[AsyncSession]]


class DelivererOptions(TypedDict, total=False):
    clock: Callable[[], datetime]
    concurrency: int


def utcnow() -> datetime:
    return datetime.now(UTC)


def body_of(payload: dict[str, Any]) -> bytes:
    """The bytes POSTed (and signed): the same on every attempt."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Deliverer:
    def __init__(
        self,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        repository: Callable[[AsyncSession], Repo],
        sealer: Sealer,
        policy: DeliveryPolicy,
        http_client: httpx.AsyncClient,
        *,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        batch: int = 32,
        concurrency: int = 8,
    ) -> None:
        self.sessions = sessions
        self.repository = repository
        self.sealer = sealer
        self.policy = policy
        self.http = http_client
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.batch = batch
        self.concurrency = concurrency

    async def run_once(self) -> int:
        """Attempt every delivery due, until none is left; how many were attempted.

        Up to ``concurrency`` attempts at once, each free slot starting the next (a slow
        receiver holds up one slot, not the others). Claims take ``batch`` at a time, and the
        ended attempts are recorded together (a batch's worth, or before the next claim): two
        transactions per batch, not per delivery. A worker that dies in between leaves its
        claims to the lease, and the unrecorded attempts are sent again (at least once).
        """
        queue: deque[tuple[DeliveryColumns, WebhookColumns]] = deque()
        in_flight: dict[asyncio.Task[tuple[AttemptOutcome, datetime]], DeliveryColumns] = {}
        ended: list[tuple[DeliveryColumns, tuple[AttemptOutcome, datetime]]] = []
        attempted = 0
        exhausted = False
        try:
            while True:
                if not queue and not exhausted and len(in_flight) < self.concurrency:
                    if ended:
                        await self._record(ended)
                        ended = []
                    now = self.clock()
                    lease = now + timedelta(seconds=self.policy.lease_seconds)
                    async with self.sessions()() as session, session.begin():
                        claimed = await self.repository(session).claim_due(now, lease, self.batch)
                    queue.extend(claimed)
                    attempted += len(claimed)
                    exhausted = len(claimed) < self.batch
                while queue and len(in_flight) < self.concurrency:
                    row, hook = queue.popleft()
                    in_flight[asyncio.create_task(self._attempt(row, hook))] = row
                if not in_flight:
                    if ended:
                        await self._record(ended)
                    return attempted
                done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                ended += [(in_flight.pop(task), task.result()) for task in done]
                if len(ended) >= self.batch:
                    await self._record(ended)
                    ended = []
        finally:
            for task in in_flight:  # cancelled (the worker stops): the lease hands them on
                task.cancel()

    async def drain(self) -> int:
        """Run until nothing is due (tests)."""
        return await self.run_once()

    async def next_due(self) -> datetime | None:
        async with self.sessions()() as session:
            return await self.repository(session).next_due()

    async def _attempt(
        self, delivery: DeliveryColumns, webhook: WebhookColumns
    ) -> tuple[AttemptOutcome, datetime]:
        started = self.clock()
        try:
            outcome = await self._post(delivery, webhook, started)
        except Exception as exc:  # whatever it was, the attempt is recorded and retried
            logger.exception("webhook attempt failed unexpectedly", webhook_id=str(webhook.id))
            outcome = AttemptOutcome(False, None, None, f"{type(exc).__name__}: {exc}"[:500], 0)
        return outcome, started

    async def _post(
        self, delivery: DeliveryColumns, webhook: WebhookColumns, started: datetime
    ) -> AttemptOutcome:
        try:
            where = secret_binding(webhook.id)
            secret = self.sealer.open(webhook.secret_sealed, where)
            previous = []
            until = webhook.previous_secret_until
            if webhook.previous_secret_sealed and until is not None and started < until:
                previous.append(self.sealer.open(webhook.previous_secret_sealed, where))
        except Exception as exc:  # a key dropped from the ring too early: say so, retry
            logger.error("webhook secret unreadable", webhook_id=str(webhook.id))
            return AttemptOutcome(False, None, None, f"signing secret unreadable: {exc}", 0)
        body = body_of(delivery.payload)
        headers = signed_headers(
            secret, delivery.message_id, int(started.timestamp()), body, *previous
        )
        return await post_signed(self.http, webhook.url, body, headers, self.policy)

    async def _record(
        self, attempts: list[tuple[DeliveryColumns, tuple[AttemptOutcome, datetime]]]
    ) -> None:
        now = self.clock()
        logged = []
        async with self.sessions()() as session, session.begin():
            repository = self.repository(session)
            for delivery, (outcome, started) in attempts:
                row = await repository.lock_pending(delivery.id)
                if row is None:  # deleted with its webhook meanwhile, or settled by another
                    continue
                number = row.attempts + 1
                if outcome.ok:
                    state, due = DeliveryState.SUCCEEDED, None
                else:
                    delay = next_delay(number, self.policy.schedule, self.rng)
                    if delay is None:
                        state, due = DeliveryState.FAILED, None
                    else:
                        state, due = DeliveryState.PENDING, now + timedelta(seconds=delay)
                attempt = build(
                    repository.attempt,
                    started_at=started,
                    duration_ms=outcome.duration_ms,
                    status_code=outcome.status_code,
                    response_excerpt=outcome.response_excerpt,
                    error=outcome.error,
                    ok=outcome.ok,
                )
                await repository.record_attempt(
                    row, attempt, state=state, next_attempt_at=due, now=now
                )
                logged.append((delivery, outcome, number, state))
        for delivery, outcome, number, state in logged:
            log = logger.info if outcome.ok else logger.warning
            log(
                "webhook attempt",
                delivery_id=str(delivery.id),
                webhook_id=str(delivery.webhook_id),
                event_type=delivery.event_type,
                attempt=number,
                status=outcome.status_code,
                error=outcome.error,
                state=state.value,
            )


class DeliveryTask:
    """The loop, woken by NOTIFY on ``channel``, by the next due retry, and every
    ``sweep_seconds``."""

    def __init__(
        self, deliverer: Deliverer, database_url: str, channel: str, sweep_seconds: float
    ) -> None:
        self.deliverer = deliverer
        self.sweep_seconds = sweep_seconds
        self.wake = asyncio.Event()
        self.listener = ChannelListener(
            database_url, channel, lambda _payload: self.wake.set(), on_listening=self.wake.set
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="nfhub-webhook-deliveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        self.listener.start()
        try:
            while True:
                self.wake.clear()
                wait = self.sweep_seconds
                try:
                    await self.deliverer.run_once()
                    due = await self.deliverer.next_due()
                    if due is not None:
                        until_due = (due - self.deliverer.clock()).total_seconds()
                        wait = max(0.0, min(wait, until_due))
                except Exception:  # the database restarting, say: the next round retries
                    logger.exception("webhook delivery round failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=wait)
        finally:
            await self.listener.stop()


def new_deliverer(
    settings: WebhookSettings,
    sessions: Sessions,
    repository: Callable[[AsyncSession], Repo],
    sealer: Sealer,
    **options: Unpack[DelivererOptions],
) -> Deliverer:
    """A service's deliverer: its tables (``repository``) and key ring, its webhook
    settings, a new HTTP client."""
    return Deliverer(
        sessions, repository, sealer, settings.webhook_policy(), new_http_client(), **options
    )


def delivery_task(
    settings: WebhookSettings,
    deliverer: Deliverer,
    database_url: str,
    channel: str,
) -> DeliveryTask:
    """A service's delivery loop, woken on its outbox channel."""
    return DeliveryTask(deliverer, database_url, channel, settings.WEBHOOK_SWEEP_SECONDS)
