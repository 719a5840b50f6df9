"""Run events delivered to a real HTTP receiver in the test: written by the trigger in the
transaction that moves the run, signed (checked with the standardwebhooks package), retried
on the schedule with the test's clock (no sleeps), FAILED after the last attempt, nothing lost
across a restart of the delivery loop, private targets refused again at delivery."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook as ReferenceVerifier

from nfhub_compute.config import Settings
from nfhub_compute.models import WebhookDelivery
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_compute.webhooks.service import key_ring
from nfhub_compute.worker.webhooks import deliverer
from nfhub_shared.webhooks.http import new_http_client
from nfhub_shared.webhooks.outbox import Deliverer
from support.clock import FakeClock
from support.inprocess import Launch, SetRun, Team
from support.webhook_receiver import Receiver, receiver, running_receiver

__all__ = ["receiver"]

SCHEDULE = [60.0, 600.0]  # two retries: three attempts in all


@pytest.fixture
def compute_settings(compute_settings: Settings) -> Settings:
    # The receiver listens on 127.0.0.1.
    return compute_settings.model_copy(
        update={"WEBHOOK_ALLOW_PRIVATE_TARGETS": True, "WEBHOOK_RETRY_SCHEDULE": SCHEDULE}
    )


@pytest.fixture
def clock() -> Callable[[], datetime]:
    fake = FakeClock()
    # After the test's transaction began: the trigger's now() is that transaction's start.
    base = datetime.now(UTC) + timedelta(seconds=1)

    def now() -> datetime:
        return base + timedelta(seconds=fake() - fake.start)

    now.advance = fake.advance  # type: ignore[attr-defined]
    return now


@pytest.fixture
def make_deliverer(
    compute_settings: Settings,
    session_factory: async_sessionmaker[AsyncSession],
    clock: Callable[[], datetime],
) -> Callable[..., Deliverer]:
    """A delivery loop as the worker runs it; a new one is a restarted worker. One delivery
    at a time: the test's sessions share one connection."""

    def make(settings: Settings = compute_settings) -> Deliverer:
        return deliverer(settings, lambda: session_factory, clock=clock, concurrency=1)

    return make


async def create_webhook(
    client: httpx.AsyncClient, team: Team, url: str, events: list[str]
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/webhooks", json={"url": url, "events": events}, headers=team.headers("editor")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def deliveries(
    client: httpx.AsyncClient, team: Team, webhook_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/webhooks/{webhook_id}/deliveries", headers=team.headers("editor")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.fixture
async def run_id(hello: Any, launch: Launch) -> str:
    response = await launch()
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


class TestRunEvents:
    async def test_each_state_change_signed_and_delivered(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        run_id: str,
        set_run: SetRun,
        make_deliverer: Callable[..., Deliverer],
    ) -> None:
        webhook = await create_webhook(
            compute_client, team, receiver.url, ["run.started", "run.completed"]
        )
        await set_run(run_id, state="INITIALIZING")
        await set_run(run_id, state="RUNNING")
        await set_run(run_id, state="UNKNOWN")
        await set_run(run_id, state="RUNNING")  # heard from again: not a new start
        await set_run(run_id, state="COMPLETE", exit_code=0)

        assert await make_deliverer().drain() == 2
        events = [json.loads(got.body) for got in receiver.received]
        assert [event["type"] for event in events] == ["run.started", "run.completed"]
        done = events[1]["data"]
        assert done["run_id"] == run_id and done["state"] == "COMPLETE"
        assert done["previous_state"] == "RUNNING" and done["exit_code"] == 0
        verifier = ReferenceVerifier(webhook["secret"])
        for got in receiver.received:
            assert got.path == "/hooks/nfhub?lab=1"
            assert got.headers["content-type"] == "application/json"
            assert verifier.verify(got.body, got.headers) == json.loads(got.body)
        listed = await deliveries(compute_client, team, webhook["id"])
        assert {item["state"] for item in listed} == {"SUCCEEDED"}
        assert {item["message_id"] for item in listed} == {
            got.headers["webhook-id"] for got in receiver.received
        }

    async def test_only_subscribed_events_of_the_project(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        run_id: str,
        set_run: SetRun,
        make_deliverer: Callable[..., Deliverer],
    ) -> None:
        await create_webhook(compute_client, team, receiver.url, ["run.failed"])
        await set_run(run_id, state="CANCELED")
        assert await make_deliverer().drain() == 0
        assert receiver.received == []

    async def test_outbox_rows_roll_back_with_the_change(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        run_id: str,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        await create_webhook(compute_client, team, receiver.url, ["run.canceled"])
        from sqlalchemy import update

        from nfhub_compute.models import Run

        async with session_factory() as session, session.begin():
            await session.execute(
                update(Run).where(Run.id == uuid.UUID(run_id)).values(state="CANCELED")
            )
            await session.rollback()
        async with session_factory() as session:
            count = await session.scalar(select(func.count()).select_from(WebhookDelivery))
        assert count == 0


class TestRetries:
    async def test_fails_twice_then_one_accepted_delivery(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        run_id: str,
        set_run: SetRun,
        make_deliverer: Callable[..., Deliverer],
        clock: Any,
    ) -> None:
        receiver.answers(500, 503, 200)
        webhook = await create_webhook(compute_client, team, receiver.url, ["run.failed"])
        await set_run(run_id, state="SYSTEM_ERROR")

        loop = make_deliverer()
        assert await loop.run_once() == 1  # 500
        assert await loop.run_once() == 0  # not due yet
        clock.advance(SCHEDULE[0] * 1.25)
        # A restart mid-backoff: a new loop (its state is all in the database) goes on.
        loop = make_deliverer()
        assert await loop.run_once() == 1  # 503
        clock.advance(SCHEDULE[1] * 1.25)
        assert await loop.run_once() == 1  # 200
        clock.advance(SCHEDULE[1] * 10)
        assert await loop.run_once() == 0

        assert len(receiver.received) == 3
        ids = {got.headers["webhook-id"] for got in receiver.received}
        assert len(ids) == 1  # the same message each time, for the receiver to deduplicate
        [delivery] = await deliveries(compute_client, team, webhook["id"])
        assert delivery["state"] == "SUCCEEDED" and delivery["attempts"] == 3
        log = delivery["attempt_log"]
        assert [a["status_code"] for a in log] == [500, 503, 200]
        assert [a["ok"] for a in log] == [False, False, True]
        assert log[0]["response_excerpt"] == "ok" and log[0]["error"] == "answered 500"

    async def test_failed_after_the_schedule(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        run_id: str,
        set_run: SetRun,
        make_deliverer: Callable[..., Deliverer],
        clock: Any,
    ) -> None:
        receiver.answers(500)
        webhook = await create_webhook(compute_client, team, receiver.url, ["run.canceled"])
        await set_run(run_id, state="CANCELED")
        loop = make_deliverer()
        for _ in range(5):
            await loop.run_once()
            clock.advance(SCHEDULE[-1] * 2)
        assert len(receiver.received) == len(SCHEDULE) + 1
        [delivery] = await deliveries(compute_client, team, webhook["id"])
        assert delivery["state"] == "FAILED"
        assert delivery["attempts"] == 3 and delivery["finished_at"] is not None
        assert delivery["next_attempt_at"] is None

    async def test_redirect_is_a_failed_attempt(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        make_deliverer: Callable[..., Deliverer],
    ) -> None:
        receiver.answers(302)
        receiver.answer_headers["location"] = "http://169.254.169.254/latest"
        webhook = await create_webhook(compute_client, team, receiver.url, ["run.completed"])
        test = await compute_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=team.headers("editor")
        )
        assert test.status_code == 202, test.text
        assert test.json()["state"] == "PENDING"
        await make_deliverer().run_once()
        assert len(receiver.received) == 1  # the redirect was not followed
        [delivery] = await deliveries(compute_client, team, webhook["id"])
        assert delivery["event_type"] == "webhook.test" and delivery["state"] == "PENDING"
        assert "not followed" in delivery["attempt_log"][0]["error"]


class TestGuardAtDelivery:
    async def test_private_target_refused_when_delivering(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        team: Team,
        receiver: Receiver,
        make_deliverer: Callable[..., Deliverer],
    ) -> None:
        # Allowed when it was made; the setting was turned off since.
        webhook = await create_webhook(compute_client, team, receiver.url, ["run.completed"])
        await compute_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=team.headers("editor")
        )
        strict = compute_settings.model_copy(update={"WEBHOOK_ALLOW_PRIVATE_TARGETS": False})
        await make_deliverer(strict).run_once()
        assert receiver.received == []
        [delivery] = await deliveries(compute_client, team, webhook["id"])
        assert delivery["attempt_log"][0]["error"].startswith("target refused")


class TestSecretNeverLogged:
    async def test_not_in_logs_nor_answers(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        make_deliverer: Callable[..., Deliverer],
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        receiver.answers(500, 200)
        webhook = await create_webhook(compute_client, team, receiver.url, ["run.completed"])
        secret = webhook["secret"]
        await compute_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=team.headers("editor")
        )
        await make_deliverer().run_once()
        listed = await deliveries(compute_client, team, webhook["id"])
        captured = capsys.readouterr()
        logged = captured.out + captured.err
        assert "webhook attempt" in logged  # the log was captured: the check below means something
        assert secret.removeprefix("whsec_") not in logged
        assert secret.removeprefix("whsec_") not in json.dumps(listed)


class TestClaims:
    async def test_a_claimed_delivery_is_leased_to_its_worker(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        team: Team,
        receiver: Receiver,
        session_factory: async_sessionmaker[AsyncSession],
        make_deliverer: Callable[..., Deliverer],
        clock: Any,
    ) -> None:
        """Another worker skips what one has claimed, until the lease runs out (the first
        died mid-attempt): then it sends it."""
        from nfhub_compute.webhooks.repository import webhook_repository

        webhook = await create_webhook(compute_client, team, receiver.url, ["run.completed"])
        await compute_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=team.headers("editor")
        )
        lease = compute_settings.webhook_policy().lease_seconds
        async with session_factory() as session, session.begin():
            now = clock()
            claimed = await webhook_repository(session).claim_due(
                now, now + timedelta(seconds=lease), 10
            )
        assert len(claimed) == 1  # a worker took it, then died before posting
        other = make_deliverer()
        assert await other.run_once() == 0
        clock.advance(lease + 1)
        assert await other.run_once() == 1
        assert len(receiver.received) == 1


class TestSecretRotation:
    async def test_both_secrets_sign_during_the_grace_then_only_the_new(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        receiver: Receiver,
        make_deliverer: Callable[..., Deliverer],
    ) -> None:
        from standardwebhooks.webhooks import WebhookVerificationError

        webhook = await create_webhook(compute_client, team, receiver.url, ["run.completed"])
        old, path = webhook["secret"], f"/api/v1/webhooks/{webhook['id']}"
        hdrs = team.headers("editor")
        assert (
            await compute_client.post(f"{path}/rotate-secret", headers=team.headers("viewer"))
        ).status_code == 403
        rotated = await compute_client.post(f"{path}/rotate-secret", headers=hdrs)
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new != old and rotated.json()["previous_secret_until"] is not None
        assert new not in (await compute_client.get(path, headers=hdrs)).text

        await compute_client.post(f"{path}/test", headers=hdrs)
        await make_deliverer().run_once()
        got = receiver.received[-1]
        for secret in (old, new):  # a receiver on either secret accepts it
            ReferenceVerifier(secret).verify(got.body, got.headers)

        revoked = await compute_client.post(
            f"{path}/rotate-secret", params={"keep_previous_seconds": 0}, headers=hdrs
        )
        newest = revoked.json()["secret"]
        assert revoked.json()["previous_secret_until"] is None
        await compute_client.post(f"{path}/test", headers=hdrs)
        await make_deliverer().run_once()
        got = receiver.received[-1]
        ReferenceVerifier(newest).verify(got.body, got.headers)
        with pytest.raises(WebhookVerificationError):
            ReferenceVerifier(new).verify(got.body, got.headers)
        too_long = await compute_client.post(
            f"{path}/rotate-secret", params={"keep_previous_seconds": 10**7}, headers=hdrs
        )
        assert too_long.status_code == 422


class TestSlowReceiver:
    async def test_a_slow_receiver_holds_one_slot_not_the_others(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        team: Team,
        receiver: Receiver,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Any,
    ) -> None:
        receiver.delay = 1.0
        with running_receiver() as fast:
            slow_hook = await create_webhook(compute_client, team, receiver.url, ["run.failed"])
            fast_hook = await create_webhook(compute_client, team, fast.url, ["run.failed"])
            hdrs = team.headers("editor")
            await compute_client.post(f"/api/v1/webhooks/{slow_hook['id']}/test", headers=hdrs)
            for _ in range(5):
                await compute_client.post(f"/api/v1/webhooks/{fast_hook['id']}/test", headers=hdrs)
            loop = Deliverer(
                lambda: session_factory,
                webhook_repository,
                key_ring(compute_settings),
                compute_settings.webhook_policy(),
                new_http_client(),
                clock=clock,
                batch=2,
                concurrency=2,
            )
            try:
                assert await loop.run_once() == 6
            finally:
                await loop.http.aclose()
            [slow] = receiver.received
            assert len(fast.received) == 5
            # All five went through the other slot while the slow one was still answering.
            assert max(got.at for got in fast.received) < slow.at + receiver.delay
