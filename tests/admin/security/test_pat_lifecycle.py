"""Personal access tokens at admin: shown once, last use, expiry, revocation, scopes, names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update

from nfhub_admin.models import PersonalAccessToken

PROBLEM_JSON = "application/problem+json"
TOKENS = "/api/v1/tokens"
ME = "/api/v1/users/me"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_pat(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(TOKENS, headers=headers, json={"name": name, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def list_pats(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> httpx.Response:
    response = await client.get(TOKENS, headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


class TestCreateToken:
    async def test_secret_is_shown_once_and_never_listed(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        created = await create_pat(admin_client, actor.headers, "ci", scopes=["users:read"])
        secret = created["token"]
        assert secret.startswith("nfh_pat_") and len(secret) > 40
        assert created["token_hint"] == secret[:12]
        assert created["scopes"] == ["users:read"]
        assert created["last_used_at"] is None and created["revoked_at"] is None
        assert (await admin_client.get(ME, headers=bearer(secret))).status_code == 200

        for params in ({}, {"include_revoked": "true"}):
            listed = await list_pats(admin_client, actor.headers, **params)
            assert secret not in listed.text
            (item,) = listed.json()["items"]
            assert "token" not in item
            assert item["id"] == created["id"]
            assert item["token_hint"] == created["token_hint"]
            assert item["name"] == "ci"


class TestLastUsed:
    async def test_last_used_at_is_set_after_use(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        created = await create_pat(admin_client, actor.headers, "script")
        (before,) = (await list_pats(admin_client, actor.headers)).json()["items"]
        assert before["last_used_at"] is None

        started = datetime.now(UTC)
        assert (await admin_client.get(ME, headers=bearer(created["token"]))).status_code == 200
        (after,) = (await list_pats(admin_client, actor.headers)).json()["items"]
        assert after["last_used_at"] is not None
        last_used = datetime.fromisoformat(after["last_used_at"])
        assert started - timedelta(seconds=5) <= last_used <= datetime.now(UTC)


class TestTokenExpiry:
    async def test_token_with_expiry_works_until_it_expires(
        self, admin_client: httpx.AsyncClient, factory, session_factory
    ) -> None:
        actor = await factory.user()
        created = await create_pat(admin_client, actor.headers, "week", expires_in_days=7)
        expires_at = datetime.fromisoformat(created["expires_at"])
        assert abs(expires_at - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=1)
        assert (await admin_client.get(ME, headers=bearer(created["token"]))).status_code == 200

        async with session_factory() as session, session.begin():
            await session.execute(
                update(PersonalAccessToken)
                .where(PersonalAccessToken.id == created["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        response = await admin_client.get(ME, headers=bearer(created["token"]))
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_token_without_expiry_has_none(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        created = await create_pat(admin_client, actor.headers, "forever")
        assert created["expires_at"] is None

    async def test_expiry_outside_the_allowed_range_is_422(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        for days in (0, -1, 3651):
            response = await admin_client.post(
                TOKENS, headers=actor.headers, json={"name": "bad", "expires_in_days": days}
            )
            assert_problem(response, 422)


class TestRevokeToken:
    async def test_revoked_token_is_refused_and_the_others_keep_working(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        doomed = await create_pat(admin_client, actor.headers, "doomed")
        kept = await create_pat(admin_client, actor.headers, "kept")

        response = await admin_client.delete(f"{TOKENS}/{doomed['id']}", headers=actor.headers)
        assert response.status_code == 204, response.text
        assert_problem(await admin_client.get(ME, headers=bearer(doomed["token"])), 401)
        assert (await admin_client.get(ME, headers=bearer(kept["token"]))).status_code == 200

        active = (await list_pats(admin_client, actor.headers)).json()["items"]
        assert [item["name"] for item in active] == ["kept"]
        everything = (await list_pats(admin_client, actor.headers, include_revoked="true")).json()
        revoked = {item["name"]: item["revoked_at"] for item in everything["items"]}
        assert revoked["doomed"] is not None and revoked["kept"] is None

    async def test_another_users_token_cannot_be_revoked(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        owner, intruder = await factory.user(), await factory.user()
        created = await create_pat(admin_client, owner.headers, "mine")
        response = await admin_client.delete(f"{TOKENS}/{created['id']}", headers=intruder.headers)
        assert_problem(response, 404)
        assert (await admin_client.get(ME, headers=bearer(created["token"]))).status_code == 200


class TestRevokeAllTokens:
    async def test_revoke_all_refuses_every_token_of_the_caller_only(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor, bystander = await factory.user(), await factory.user()
        mine = [await create_pat(admin_client, actor.headers, name) for name in ("a", "b")]
        theirs = await create_pat(admin_client, bystander.headers, "a")

        response = await admin_client.delete(TOKENS, headers=actor.headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"revoked": 2}
        for created in mine:
            assert_problem(await admin_client.get(ME, headers=bearer(created["token"])), 401)
        assert (await admin_client.get(ME, headers=bearer(theirs["token"]))).status_code == 200
        assert (await list_pats(admin_client, actor.headers)).json()["items"] == []

        again = await admin_client.delete(TOKENS, headers=actor.headers)
        assert again.json() == {"revoked": 0}


class TestTokenScopes:
    async def test_pat_without_tokens_write_cannot_create_tokens(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        narrow = await create_pat(admin_client, actor.headers, "narrow", scopes=["users:read"])
        assert (await admin_client.get(ME, headers=bearer(narrow["token"]))).status_code == 200

        response = await admin_client.post(
            TOKENS, headers=bearer(narrow["token"]), json={"name": "wider"}
        )
        body = assert_problem(response, 403)
        assert "tokens:write" in body["detail"]
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="tokens:write"' in challenge
        listing = await admin_client.get(TOKENS, headers=bearer(narrow["token"]))
        assert 'scope="tokens:read"' in listing.headers["www-authenticate"]
        assert_problem(listing, 403)

    async def test_scopes_the_caller_lacks_cannot_be_granted(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        writer = await create_pat(
            admin_client, actor.headers, "writer", scopes=["tokens:write", "users:read"]
        )
        response = await admin_client.post(
            TOKENS,
            headers=bearer(writer["token"]),
            json={"name": "escalated", "scopes": ["users:read", "orgs:write"]},
        )
        body = assert_problem(response, 403)
        assert body["title"] == "Scope not held"
        assert "orgs:write" in body["detail"]
        assert "users:read" not in body["detail"]
        listed = (await list_pats(admin_client, actor.headers)).json()["items"]
        assert [item["name"] for item in listed] == ["writer"]

    async def test_scopes_default_to_the_callers_and_may_be_narrowed(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor = await factory.user()
        writer = await create_pat(
            admin_client, actor.headers, "writer", scopes=["tokens:write", "users:read"]
        )
        inherited = await create_pat(admin_client, bearer(writer["token"]), "inherited")
        assert inherited["scopes"] == ["tokens:write", "users:read"]
        narrowed = await create_pat(
            admin_client, bearer(writer["token"]), "narrowed", scopes=["users:read"]
        )
        assert narrowed["scopes"] == ["users:read"]

    async def test_unknown_scope_is_422(self, admin_client: httpx.AsyncClient, factory) -> None:
        actor = await factory.user()
        response = await admin_client.post(
            TOKENS, headers=actor.headers, json={"name": "odd", "scopes": ["root:all"]}
        )
        assert_problem(response, 422)


class TestTokenNames:
    async def test_duplicate_active_name_is_409_and_free_again_after_revocation(
        self, admin_client: httpx.AsyncClient, factory
    ) -> None:
        actor, other = await factory.user(), await factory.user()
        first = await create_pat(admin_client, actor.headers, "laptop")
        duplicate = await admin_client.post(TOKENS, headers=actor.headers, json={"name": "laptop"})
        body = assert_problem(duplicate, 409)
        assert "laptop" in body["detail"]
        await create_pat(admin_client, other.headers, "laptop")  # names are per user

        revoked = await admin_client.delete(f"{TOKENS}/{first['id']}", headers=actor.headers)
        assert revoked.status_code == 204
        await create_pat(admin_client, actor.headers, "laptop")
