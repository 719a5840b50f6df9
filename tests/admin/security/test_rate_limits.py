"""Per-token, per-category rate limits: headers, 429 past the limit, separate budgets, Redis."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from support.require import require_or_skip

PROBLEM_JSON = "application/problem+json"
ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login"
REDIS_URL = "redis://127.0.0.1:6379/15"
# An hour-long window: a test that sends its handful of requests will not straddle two windows.
WINDOW = 3600


def limit_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["X-RateLimit-Limit"]),
        int(response.headers["X-RateLimit-Remaining"]),
        int(response.headers["X-RateLimit-Reset"]),
    )


def assert_rate_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 429
    assert response.json()["type"].endswith("/rate-limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= WINDOW
    assert limit_headers(response)[:2] == (limit, 0)
    assert int(response.headers["X-RateLimit-Reset"]) == retry_after


class TestRateLimitHeaders:
    async def test_responses_carry_limit_remaining_and_reset(
        self, admin_client: httpx.AsyncClient, factory, admin_settings
    ) -> None:
        actor = await factory.user()
        response = await admin_client.get(ME, headers=actor.headers)
        assert response.status_code == 200
        limit, remaining, reset = limit_headers(response)
        assert limit == admin_settings.RATE_LIMIT_READ
        assert remaining == limit - 1
        assert 1 <= reset <= admin_settings.RATE_LIMIT_WINDOW_SECONDS

    async def test_auth_endpoints_count_against_the_auth_limit(
        self, admin_client: httpx.AsyncClient, factory, admin_settings
    ) -> None:
        actor = await factory.user()
        response = await admin_client.post(
            LOGIN, json={"username": actor.username, "password": actor.password}
        )
        assert response.status_code == 200
        assert limit_headers(response)[0] == admin_settings.RATE_LIMIT_AUTH


class TestReadLimit:
    async def test_request_past_the_limit_is_429_with_retry_after(
        self, make_admin, factory
    ) -> None:
        actor = await factory.user()
        async with make_admin(RATE_LIMIT_READ=3, RATE_LIMIT_WINDOW_SECONDS=WINDOW) as admin:
            remaining = []
            for _ in range(3):
                response = await admin.get(ME, headers=actor.headers)
                assert response.status_code == 200, response.text
                remaining.append(limit_headers(response)[1])
            assert remaining == [2, 1, 0]
            assert_rate_limited(await admin.get(ME, headers=actor.headers), 3)
            assert_rate_limited(await admin.get(ME, headers=actor.headers), 3)

    async def test_different_tokens_have_separate_budgets(self, make_admin, factory) -> None:
        first, second = await factory.user(), await factory.user()
        _, first_pat = await factory.personal_access_token(first)
        async with make_admin(RATE_LIMIT_READ=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW) as admin:
            for _ in range(2):
                assert (await admin.get(ME, headers=first.headers)).status_code == 200
            assert_rate_limited(await admin.get(ME, headers=first.headers), 2)
            # Another user, and another token of the same user, each start with a full budget.
            other = await admin.get(ME, headers=second.headers)
            assert other.status_code == 200
            assert limit_headers(other)[1] == 1
            pat = await admin.get(ME, headers={"Authorization": f"Bearer {first_pat}"})
            assert pat.status_code == 200
            assert limit_headers(pat)[1] == 1

    async def test_categories_have_separate_budgets(self, make_admin, factory) -> None:
        actor = await factory.user()
        async with make_admin(
            RATE_LIMIT_READ=1, RATE_LIMIT_WRITE=5, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as admin:
            assert (await admin.get(ME, headers=actor.headers)).status_code == 200
            assert_rate_limited(await admin.get(ME, headers=actor.headers), 1)
            write = await admin.post(
                "/api/v1/tokens", headers=actor.headers, json={"name": "still-allowed"}
            )
            assert write.status_code == 201, write.text
            assert limit_headers(write)[:2] == (5, 4)


class TestAuthLimit:
    async def test_logins_past_the_limit_are_429_even_with_the_right_password(
        self, make_admin, factory
    ) -> None:
        actor = await factory.user()
        right = {"username": actor.username, "password": actor.password}
        wrong = {"username": actor.username, "password": "not-the-password"}
        async with make_admin(RATE_LIMIT_AUTH=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW) as admin:
            assert (await admin.post(LOGIN, json=wrong)).status_code == 401
            assert (await admin.post(LOGIN, json=wrong)).status_code == 401
            assert_rate_limited(await admin.post(LOGIN, json=right), 2)
            # Reads with a token are a different budget.
            assert (await admin.get(ME, headers=actor.headers)).status_code == 200


def from_address(admin_app_client: httpx.AsyncClient, host: str) -> httpx.AsyncClient:
    """Another client of the same admin app, calling from ``host``."""
    transport = admin_app_client._transport
    assert isinstance(transport, httpx.ASGITransport)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=transport.app, client=(host, 40000)),
        base_url="http://admin.test",
    )


class TestLoginBypass:
    async def test_random_bearers_do_not_reset_the_login_budget(self, make_admin) -> None:
        # 70 bad logins, each with a fresh random bearer and username: the 30 per minute of
        # the auth budget belong to the address, not to whatever the header says.
        async with make_admin(RATE_LIMIT_WINDOW_SECONDS=WINDOW) as admin:
            seen = []
            for _ in range(70):
                response = await admin.post(
                    LOGIN,
                    json={"username": f"nobody-{secrets.token_hex(4)}", "password": "guess"},
                    headers={"Authorization": f"Bearer {secrets.token_urlsafe(32)}"},
                )
                seen.append(response.status_code)
            assert_rate_limited(response, 30)
        assert seen == [401] * 30 + [429] * 40

    async def test_failed_logins_per_username_are_counted_across_addresses(
        self, make_admin, factory
    ) -> None:
        actor, bystander = await factory.user(), await factory.user()
        wrong = {"username": actor.username, "password": "not-the-password"}
        async with make_admin(
            RATE_LIMIT_LOGIN_FAILURES=3, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as admin:
            for number in range(3):
                async with from_address(admin, f"198.51.100.{number + 1}") as client:
                    assert (await client.post(LOGIN, json=wrong)).status_code == 401
            async with from_address(admin, "203.0.113.9") as client:
                # Upper case is the same account: the name is compared as login compares it.
                right = {"username": actor.username.upper(), "password": actor.password}
                refused = await client.post(LOGIN, json=right)
                assert refused.status_code == 429, refused.text
                assert refused.headers["content-type"].startswith(PROBLEM_JSON)
                assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
                assert "failed logins for this account" in refused.json()["detail"]
                # Another account from the same address is not affected.
                other = {"username": bystander.username, "password": bystander.password}
                assert (await client.post(LOGIN, json=other)).status_code == 200

    async def test_username_and_email_share_one_budget(self, make_admin, factory) -> None:
        """Login takes a username or an email: the failures count for the account they name,
        so switching between the two gives an attacker no second budget."""
        email = f"m-{secrets.token_hex(4)}@lab.example"
        actor = await factory.user(email=email)
        async with make_admin(
            RATE_LIMIT_LOGIN_FAILURES=4, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as admin:
            for name in (actor.username, email, actor.username, email.upper()):
                wrong = {"username": name, "password": "not-the-password"}
                assert (await admin.post(LOGIN, json=wrong)).status_code == 401
            for name in (actor.username, email):
                right = {"username": name, "password": actor.password}
                refused = await admin.post(LOGIN, json=right)
                assert refused.status_code == 429, (name, refused.text)

    async def test_successful_logins_do_not_count(self, make_admin, factory) -> None:
        actor = await factory.user()
        right = {"username": actor.username, "password": actor.password}
        async with make_admin(
            RATE_LIMIT_LOGIN_FAILURES=2, RATE_LIMIT_WINDOW_SECONDS=WINDOW
        ) as admin:
            for _ in range(4):
                assert (await admin.post(LOGIN, json=right)).status_code == 200


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        require_or_skip(
            f"no Redis reachable at {REDIS_URL} ({type(exc).__name__}): the Redis-backed "
            "rate limiter test needs a local Redis server"
        )
    yield client
    await client.aclose()


class TestRedisRateLimiter:
    async def test_instances_share_counters_through_redis(
        self, make_admin, factory, redis_client: Redis
    ) -> None:
        actor, other = await factory.user(), await factory.user()
        settings = {
            "REDIS_URL": SecretStr(REDIS_URL),
            "RATE_LIMIT_READ": 3,
            "RATE_LIMIT_WINDOW_SECONDS": WINDOW,
        }
        caller = "t:" + hashlib.sha256(actor.token.encode()).hexdigest()[:32]
        pattern = f"nfhub:rl:read:{caller}:*"
        try:
            async with make_admin(**settings) as first, make_admin(**settings) as second:
                remaining = []
                for admin in (first, second, first):
                    response = await admin.get(ME, headers=actor.headers)
                    assert response.status_code == 200, response.text
                    remaining.append(limit_headers(response)[1])
                # One budget across both instances: an in-process limiter would say 2, 2, 1.
                assert remaining == [2, 1, 0]
                assert_rate_limited(await second.get(ME, headers=actor.headers), 3)

                elsewhere = await second.get(ME, headers=other.headers)
                assert elsewhere.status_code == 200
                assert limit_headers(elsewhere)[1] == 2

            keys = [key async for key in redis_client.scan_iter(match=pattern)]
            assert len(keys) == 1
            assert int(await redis_client.get(keys[0])) == 4
            assert 0 < await redis_client.ttl(keys[0]) <= WINDOW + 1
        finally:
            for token in (actor.token, other.token):
                caller = "t:" + hashlib.sha256(token.encode()).hexdigest()[:32]
                async for key in redis_client.scan_iter(match=f"nfhub:rl:*:{caller}:*"):
                    await redis_client.delete(key)
