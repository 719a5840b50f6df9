"""Refresh tokens: rotation, reuse detection (revokes the whole login), logout, expiry; and
password login failures that do not tell which part was wrong."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from nfhub_admin.models import RefreshToken

PROBLEM_JSON = "application/problem+json"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(client: httpx.AsyncClient, actor: Any) -> dict[str, Any]:
    credentials = {"username": actor.username, "password": actor.password}
    response = await client.post(LOGIN, json=credentials)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": refresh_token})


def assert_401(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    assert body["status"] == 401
    return body


async def me(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {access_token}"})


async def family_rows(session_factory: Any, refresh_token: str) -> list[RefreshToken]:
    async with session_factory() as session:
        stored = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == sha256(refresh_token))
        )
        assert stored is not None
        rows = await session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == stored.family_id)
        )
        return list(rows)


class TestRefreshRotation:
    async def test_refresh_returns_a_new_pair_and_the_old_refresh_token_stops_working(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        assert first["refresh_token"].startswith("nfh_rt_")

        response = await refresh(admin_client, first["refresh_token"])
        assert response.status_code == 200, response.text
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert second["refresh_token"].startswith("nfh_rt_")
        assert (await me(admin_client, second["access_token"])).json()["id"] == str(actor.id)

        assert_401(await refresh(admin_client, first["refresh_token"]))

    async def test_rotated_tokens_share_one_family(
        self, admin_client: httpx.AsyncClient, factory, session_factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        second = (await refresh(admin_client, first["refresh_token"])).json()
        family = await family_rows(session_factory, second["refresh_token"])
        assert {row.token_hash for row in family} == {
            sha256(first["refresh_token"]),
            sha256(second["refresh_token"]),
        }
        used = {row.token_hash: row.used_at for row in family}
        assert used[sha256(first["refresh_token"])] is not None
        assert used[sha256(second["refresh_token"])] is None


class TestRefreshTokenReuse:
    async def test_reusing_a_rotated_token_is_401_and_revokes_the_whole_login(
        self, admin_client: httpx.AsyncClient, factory, session_factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        other_login = await login(admin_client, actor)  # another device, another family
        second = (await refresh(admin_client, first["refresh_token"])).json()
        newest = (await refresh(admin_client, second["refresh_token"])).json()

        body = assert_401(await refresh(admin_client, first["refresh_token"]))
        assert body["title"] == "Refresh token reused"
        assert "log in again" in body["detail"].lower()

        # The revocation was committed although the answer was an error: the newest token of
        # the same login is dead too, in the database and at the endpoint.
        family = await family_rows(session_factory, newest["refresh_token"])
        assert len(family) == 3
        assert all(row.revoked_at is not None for row in family)
        assert_401(await refresh(admin_client, newest["refresh_token"]))

        # The other login is untouched.
        assert (await refresh(admin_client, other_login["refresh_token"])).status_code == 200

    async def test_reusing_the_token_just_rotated_also_revokes(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        second = (await refresh(admin_client, first["refresh_token"])).json()
        assert_401(await refresh(admin_client, first["refresh_token"]))
        assert_401(await refresh(admin_client, second["refresh_token"]))


class TestLogout:
    async def test_logout_revokes_the_refresh_token_and_its_family(
        self, admin_client: httpx.AsyncClient, factory, session_factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        second = (await refresh(admin_client, first["refresh_token"])).json()
        response = await admin_client.post(LOGOUT, json={"refresh_token": second["refresh_token"]})
        assert response.status_code == 204, response.text
        assert_401(await refresh(admin_client, second["refresh_token"]))
        family = await family_rows(session_factory, second["refresh_token"])
        assert all(row.revoked_at is not None for row in family)

    async def test_logout_ends_the_logins_access_tokens_and_no_other(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        """An access token names its login (sid); once the login ends, its signature alone no
        longer lets it in, while the user's other logins go on."""
        actor = await factory.user()
        first = await login(admin_client, actor)
        rotated = (await refresh(admin_client, first["refresh_token"])).json()
        other = await login(admin_client, actor)
        for pair in (first, rotated, other):
            assert (await me(admin_client, pair["access_token"])).status_code == 200

        response = await admin_client.post(LOGOUT, json={"refresh_token": rotated["refresh_token"]})
        assert response.status_code == 204, response.text

        for pair in (first, rotated):  # before and after rotation: one login
            body = assert_401(await me(admin_client, pair["access_token"]))
            assert "has ended" in body["detail"]
        assert (await me(admin_client, other["access_token"])).status_code == 200

    async def test_reuse_detection_also_ends_the_access_tokens(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        first = await login(admin_client, actor)
        second = (await refresh(admin_client, first["refresh_token"])).json()
        assert_401(await refresh(admin_client, first["refresh_token"]))  # reuse: login revoked
        assert_401(await me(admin_client, second["access_token"]))

    async def test_logout_with_an_unknown_token_reveals_nothing(
        self, admin_client: httpx.AsyncClient
    ) -> None:
        response = await admin_client.post(LOGOUT, json={"refresh_token": "nfh_rt_" + "x" * 43})
        assert response.status_code == 204


class TestExpiredRefreshToken:
    async def test_expired_refresh_token_is_401(
        self, admin_client: httpx.AsyncClient, factory, session_factory
    ) -> None:
        actor = await factory.user()
        pair = await login(admin_client, actor)
        async with session_factory() as session, session.begin():
            result = await session.execute(
                update(RefreshToken)
                .where(RefreshToken.token_hash == sha256(pair["refresh_token"]))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            assert result.rowcount == 1
        body = assert_401(await refresh(admin_client, pair["refresh_token"]))
        assert "expired" in body["detail"]


class TestPasswordLogin:
    async def test_wrong_password_and_unknown_user_give_the_same_401(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user(password="the-right-password-1")
        attempts = [
            {"username": actor.username, "password": "the-wrong-password-1"},
            {"username": "nobody-by-that-name", "password": "the-right-password-1"},
            {"username": "nobody@example.org", "password": "the-right-password-1"},
        ]
        bodies, challenges = [], set()
        for attempt in attempts:
            response = await admin_client.post(LOGIN, json=attempt)
            body = assert_401(response)
            challenges.add(response.headers["www-authenticate"])
            bodies.append({key: value for key, value in body.items() if key != "error_id"})
        assert bodies[0] == bodies[1] == bodies[2]
        assert set(bodies[0]) == {"type", "title", "status", "detail", "instance"}
        assert len(challenges) == 1
        assert (
            await admin_client.post(
                LOGIN, json={"username": actor.username, "password": "the-right-password-1"}
            )
        ).status_code == 200
