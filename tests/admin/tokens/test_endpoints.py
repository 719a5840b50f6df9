from __future__ import annotations

import uuid
from typing import Any

import httpx

TOKENS = "/api/v1/tokens"


class TestCreateToken:
    async def test_token_is_shown_once_and_works(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.post(
            TOKENS,
            json={"name": "laptop", "scopes": ["users:read"], "expires_in_days": 30},
            headers=alice.headers,
        )

        assert response.status_code == 201, response.text
        created = response.json()
        assert created["token"].startswith("nfh_pat_")
        assert created["token"].startswith(created["token_hint"])
        assert created["scopes"] == ["users:read"]
        assert created["expires_at"] is not None
        pat = {"Authorization": f"Bearer {created['token']}"}
        me = await admin_client.get("/api/v1/users/me", headers=pat)
        assert me.json()["id"] == str(alice.id)
        listed = await admin_client.get(TOKENS, headers=alice.headers)
        assert "token" not in listed.json()["items"][0]
        assert created["token"] not in listed.text

    async def test_scopes_limit_what_the_token_may_do(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        _, secret = await factory.personal_access_token(alice, scopes=["users:read"])

        response = await admin_client.post(
            "/api/v1/orgs",
            json={"slug": "acme", "name": "Acme"},
            headers={"Authorization": f"Bearer {secret}"},
        )

        assert response.status_code == 403, response.text
        assert "orgs:write" in response.json()["detail"]

    async def test_scope_beyond_the_caller_is_403(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice", scopes=frozenset({"tokens:write", "users:read"}))

        response = await admin_client.post(
            TOKENS, json={"name": "wide", "scopes": ["orgs:write"]}, headers=alice.headers
        )

        assert response.status_code == 403, response.text
        assert "orgs:write" in response.json()["detail"]

    async def test_unknown_scope_is_422(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.post(
            TOKENS, json={"name": "x", "scopes": ["root:all"]}, headers=alice.headers
        )

        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "scopes"

    async def test_active_name_taken_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        await factory.personal_access_token(alice, name="ci")

        response = await admin_client.post(TOKENS, json={"name": "ci"}, headers=alice.headers)

        assert response.status_code == 409, response.text


class TestListTokens:
    async def test_lists_own_active_tokens_newest_first(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        for name in ("first", "second"):
            await admin_client.post(TOKENS, json={"name": name}, headers=alice.headers)
        revoked, _ = await factory.personal_access_token(alice, name="old")
        await admin_client.delete(f"{TOKENS}/{revoked}", headers=alice.headers)
        await factory.personal_access_token(bob, name="bobs")

        active = await admin_client.get(TOKENS, headers=alice.headers)
        everything = await admin_client.get(
            TOKENS, params={"include_revoked": "true"}, headers=alice.headers
        )

        assert active.status_code == 200, active.text
        assert [t["name"] for t in active.json()["items"]] == ["second", "first"]
        assert {t["name"] for t in everything.json()["items"]} == {"first", "second", "old"}


class TestRevokeToken:
    async def test_revoked_token_stops_working(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        token_id, secret = await factory.personal_access_token(alice)

        response = await admin_client.delete(f"{TOKENS}/{token_id}", headers=alice.headers)

        assert response.status_code == 204, response.text
        refused = await admin_client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}
        )
        assert refused.status_code == 401
        again = await admin_client.delete(f"{TOKENS}/{token_id}", headers=alice.headers)
        assert again.status_code == 204

    async def test_another_users_token_is_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        token_id, secret = await factory.personal_access_token(alice)

        response = await admin_client.delete(f"{TOKENS}/{token_id}", headers=bob.headers)

        assert response.status_code == 404, response.text
        still = await admin_client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {secret}"}
        )
        assert still.status_code == 200

    async def test_unknown_id_is_404(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")

        response = await admin_client.delete(f"{TOKENS}/{uuid.uuid4()}", headers=alice.headers)

        assert response.status_code == 404, response.text


class TestRevokeAllTokens:
    async def test_revokes_only_the_callers_tokens(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        for name in ("one", "two"):
            await factory.personal_access_token(alice, name=name)
        _, bobs = await factory.personal_access_token(bob)

        response = await admin_client.delete(TOKENS, headers=alice.headers)

        assert response.status_code == 200, response.text
        assert response.json() == {"revoked": 2}
        assert (await admin_client.get(TOKENS, headers=alice.headers)).json()["count"] == 0
        still = await admin_client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {bobs}"}
        )
        assert still.status_code == 200
