"""miner's order webhooks: an order's move is written to the outbox by the trigger on
order_transitions, delivered signed (checked with the standardwebhooks package) to a real
receiver; the same rules as compute's (who manages, SSRF, other projects)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks.webhooks import Webhook as ReferenceVerifier

from nfhub_miner.config import Settings
from nfhub_miner.webhooks.delivery import deliverer
from support.inprocess import Team
from support.orders import move
from support.webhook_receiver import Receiver, receiver

__all__ = ["receiver"]


@pytest.fixture
def miner_settings(miner_settings: Settings) -> Settings:
    return miner_settings.model_copy(update={"WEBHOOK_ALLOW_PRIVATE_TARGETS": True})


async def create(
    client: httpx.AsyncClient, team: Team, url: str, role: str = "editor"
) -> httpx.Response:
    return await client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": ["order.transitioned"]},
        headers=team.headers(role),
    )


class TestOrderTransitioned:
    async def test_a_move_is_delivered_signed(
        self,
        miner_client: httpx.AsyncClient,
        miner_settings: Settings,
        team: Team,
        order: dict[str, Any],
        receiver: Receiver,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        created = await create(miner_client, team, receiver.url)
        assert created.status_code == 201, created.text
        webhook = created.json()
        moved = await move(miner_client, team, order["id"], "cancelled")
        assert moved.status_code == 200, moved.text

        later = datetime.now(UTC) + timedelta(seconds=1)
        loop = deliverer(
            miner_settings, lambda: session_factory, clock=lambda: later, concurrency=1
        )
        assert await loop.drain() == 1
        [got] = receiver.received
        event = ReferenceVerifier(webhook["secret"]).verify(got.body, got.headers)
        assert event == json.loads(got.body)
        assert event["type"] == "order.transitioned"
        data = event["data"]
        assert data["order_id"] == order["id"] and data["display_id"] == "ORD-7"
        assert (data["from_status"], data["to_status"]) == ("created", "cancelled")
        listed = await miner_client.get(
            f"/api/v1/webhooks/{webhook['id']}/deliveries", headers=team.headers("editor")
        )
        [delivery] = listed.json()["items"]
        assert delivery["state"] == "SUCCEEDED" and delivery["attempts"] == 1
        assert webhook["secret"] not in listed.text


class TestRules:
    async def test_viewer_cannot_manage_and_strangers_get_404(
        self, miner_client: httpx.AsyncClient, team: Team, factory: Any
    ) -> None:
        assert (
            await create(miner_client, team, "https://lims.example.org/h", "viewer")
        ).status_code == 403
        webhook = (await create(miner_client, team, "https://lims.example.org/h")).json()
        stranger = await factory.user()
        other_project = await factory.project(
            await factory.org(stranger), members={stranger: "admin"}
        )
        response = await miner_client.get(
            f"/api/v1/webhooks/{webhook['id']}", headers=dict(stranger.in_project(other_project))
        )
        assert response.status_code == 404

    async def test_private_target_refused_by_default(
        self, miner_client: httpx.AsyncClient, miner_app: Any, team: Team
    ) -> None:
        miner_app.state.settings = miner_app.state.settings.model_copy(
            update={"WEBHOOK_ALLOW_PRIVATE_TARGETS": False}
        )
        response = await create(miner_client, team, "http://169.254.169.254/latest")
        assert response.status_code == 422, response.text
