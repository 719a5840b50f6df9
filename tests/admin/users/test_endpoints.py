from __future__ import annotations

from typing import Any

import httpx

USERS = "/api/v1/users"
CONTEXT = "/api/v1/users/me/default-context"


class TestGetMe:
    async def test_returns_the_caller(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice", email="alice@example.org")

        response = await admin_client.get(f"{USERS}/me", headers=alice.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["id"], body["username"], body["email"], body["is_active"]) == (
            str(alice.id),
            "alice",
            "alice@example.org",
            True,
        )
        assert "password" not in response.text
        assert "password_hash" not in body


class TestGetDefaultContext:
    async def test_empty_for_a_new_user(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get(CONTEXT, headers=alice.headers)

        assert response.status_code == 200, response.text
        assert response.json() == {"org_id": None, "project_id": None}


class TestSetDefaultContext:
    async def test_project_alone_sets_its_org(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice)
        project_id = await factory.project(org_id, members={bob: "viewer"})

        response = await admin_client.put(
            CONTEXT, json={"project_id": str(project_id)}, headers=bob.headers
        )

        assert response.status_code == 200, response.text
        expected = {"org_id": str(org_id), "project_id": str(project_id)}
        assert response.json() == expected
        assert (await admin_client.get(CONTEXT, headers=bob.headers)).json() == expected

    async def test_org_alone(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)

        response = await admin_client.put(
            CONTEXT, json={"org_id": str(org_id)}, headers=alice.headers
        )

        assert response.json() == {"org_id": str(org_id), "project_id": None}

    async def test_project_of_another_org_is_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, mallory = await factory.user("alice"), await factory.user("mallory")
        project_id = await factory.project(await factory.org(alice))
        await factory.org(mallory)

        response = await admin_client.put(
            CONTEXT, json={"project_id": str(project_id)}, headers=mallory.headers
        )

        assert response.status_code == 404, response.text
        assert (await admin_client.get(CONTEXT, headers=mallory.headers)).json()["org_id"] is None

    async def test_org_of_someone_else_is_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        org_id = await factory.org(await factory.user("alice"))
        mallory = await factory.user("mallory")

        response = await admin_client.put(
            CONTEXT, json={"org_id": str(org_id)}, headers=mallory.headers
        )

        assert response.status_code == 404, response.text

    async def test_project_and_org_that_do_not_match_is_422(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        first, second = await factory.org(alice), await factory.org(alice)
        project_id = await factory.project(first, slug="rnaseq")

        response = await admin_client.put(
            CONTEXT,
            json={"org_id": str(second), "project_id": str(project_id)},
            headers=alice.headers,
        )

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "leave org_id out" in response.json()["detail"]

    async def test_clearing_with_an_empty_body(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)
        await admin_client.put(CONTEXT, json={"org_id": str(org_id)}, headers=alice.headers)

        response = await admin_client.put(CONTEXT, json={}, headers=alice.headers)

        assert response.json() == {"org_id": None, "project_id": None}


class TestCreateUser:
    async def test_org_admin_creates_a_user_who_can_log_in(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.post(
            USERS,
            json={
                "username": "erin",
                "email": "Erin@Example.org",
                "display_name": "Erin",
                "password": "a long enough password",
                "org_id": str(org_id),
            },
            headers=carol.headers,
        )

        assert response.status_code == 201, response.text
        created = response.json()
        assert (created["username"], created["email"]) == ("erin", "erin@example.org")
        assert "password" not in response.text
        login = await admin_client.post(
            "/api/v1/auth/login", json={"username": "erin", "password": "a long enough password"}
        )
        assert login.status_code == 200, login.text
        erin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        org = await admin_client.get(f"/api/v1/orgs/{org_id}", headers=erin)
        assert org.json()["role"] == "member"

    async def test_plain_member_cannot_create(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.post(
            USERS, json={"username": "erin", "org_id": str(org_id)}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_admin_cannot_create_an_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.post(
            USERS,
            json={"username": "erin", "org_id": str(org_id), "org_role": "owner"},
            headers=carol.headers,
        )

        assert response.status_code == 403, response.text

    async def test_outsider_gets_404(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        org_id = await factory.org(await factory.user("alice"))
        mallory = await factory.user("mallory")

        response = await admin_client.post(
            USERS, json={"username": "erin", "org_id": str(org_id)}, headers=mallory.headers
        )

        assert response.status_code == 404, response.text

    async def test_duplicate_username_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        await factory.user("bob")
        org_id = await factory.org(alice)

        response = await admin_client.post(
            USERS,
            json={"username": "bob", "org_id": str(org_id)},
            headers=alice.headers,
        )

        assert response.status_code == 409, response.text
        assert "choose another" in response.json()["detail"]

    async def test_duplicate_email_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice", email="alice@example.org")
        org_id = await factory.org(alice)

        response = await admin_client.post(
            USERS,
            json={"username": "erin", "email": "ALICE@example.org", "org_id": str(org_id)},
            headers=alice.headers,
        )

        assert response.status_code == 409, response.text

    async def test_short_password_is_422(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)

        response = await admin_client.post(
            USERS,
            json={"username": "erin", "password": "short", "org_id": str(org_id)},
            headers=alice.headers,
        )

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "12 characters" in response.json()["detail"]
        members = await admin_client.get(f"/api/v1/orgs/{org_id}/members", headers=alice.headers)
        assert [m["username"] for m in members.json()["items"]] == ["alice"]
