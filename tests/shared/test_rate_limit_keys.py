"""Whose budget a request spends: a bearer that authenticates spends its token's, anything else
(no bearer, a random one, a revoked one) spends its client address's, so a fresh random token
is not a fresh budget."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from nfhub_shared.auth.tokens import ServiceTokens
from support.probe import probe_router

WINDOW = 3600  # one window for the whole test


def random_bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {secrets.token_urlsafe(24)}"}


async def statuses(client: httpx.AsyncClient, count: int, headers: Any) -> list[int]:
    return [
        (await client.get("/api/v1/probe/conflict", headers=headers())).status_code
        for _ in range(count)
    ]


class TestUnauthenticatedCallersShareTheirAddressBudget:
    async def test_random_bearers_spend_one_address_budget(self, service_app) -> None:
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=5, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (_, client):
            seen = await statuses(client, 12, random_bearer)
        assert seen == [401] * 5 + [429] * 7

    async def test_no_bearer_and_random_bearers_share_it(self, service_app) -> None:
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=4, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (_, client):
            seen = await statuses(client, 2, dict) + await statuses(client, 4, random_bearer)
        assert seen == [401, 401, 401, 401, 429, 429]

    async def test_x_forwarded_for_is_not_read_by_the_service(self, service_app) -> None:
        # Trusting it is uvicorn's job (--forwarded-allow-ips), which rewrites the client
        # address before the app sees it; a header from the caller itself changes nothing.
        def spoofed() -> dict[str, str]:
            return {**random_bearer(), "X-Forwarded-For": f"10.0.0.{secrets.randbelow(250)}"}

        async with service_app(
            [probe_router()], RATE_LIMIT_READ=3, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (_, client):
            seen = await statuses(client, 5, spoofed)
        assert seen == [401, 401, 401, 429, 429]

    async def test_another_address_has_its_own_budget(self, service_app) -> None:
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (app, client):
            assert await statuses(client, 3, random_bearer) == [401, 401, 429]
            elsewhere = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("192.0.2.7", 5000)),
                base_url="http://probe.test",
            )
            async with elsewhere:
                assert await statuses(elsewhere, 3, random_bearer) == [401, 401, 429]

    async def test_ipv6_callers_are_counted_by_their_slash_64(self, service_app) -> None:
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (app, _):
            seen = []
            for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
                client = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app, client=(host, 5000)),
                    base_url="http://probe.test",
                )
                async with client:
                    seen += await statuses(client, 1, random_bearer)
        assert seen == [401, 401, 429]


class TestAuthenticatedCallersSpendTheirTokenBudget:
    async def test_a_valid_token_keeps_its_budget_when_the_address_is_spent(
        self, service_app, factory
    ) -> None:
        actor = await factory.user()
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=3, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (_, client):
            assert await statuses(client, 4, random_bearer) == [401, 401, 401, 429]
            mine = await statuses(client, 4, lambda: actor.headers)
        assert mine == [409, 409, 409, 429]

    async def test_service_tokens_are_not_limited(self, service_app) -> None:
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (app, client):
            token = app.state.service_tokens.token()
            seen = await statuses(client, 4, lambda: {"Authorization": f"Bearer {token}"})
        # Not a user: the probe route refuses it, but no limit is ever reached.
        assert seen == [401] * 4

    async def test_a_token_signed_with_another_secret_is_not_a_service(self, service_app) -> None:
        forged = ServiceTokens("x" * 40, "miner").token()
        async with service_app(
            [probe_router()], RATE_LIMIT_READ=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as (_, client):
            seen = await statuses(client, 3, lambda: {"Authorization": f"Bearer {forged}"})
        assert seen == [401, 401, 429]
