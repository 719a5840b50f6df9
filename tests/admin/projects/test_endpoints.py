from __future__ import annotations

import uuid
from typing import Any

import httpx

PROJECTS = "/api/v1/projects"


def members_url(project_id: uuid.UUID, user_id: uuid.UUID | None = None) -> str:
    url = f"{PROJECTS}/{project_id}/members"
    return f"{url}/{user_id}" if user_id else url


async def member_roles(
    client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID
) -> dict[str, str]:
    response = await client.get(members_url(project_id), headers=actor.headers)
    assert response.status_code == 200, response.text
    return {item["username"]: item["role"] for item in response.json()["items"]}


class TestCreateProject:
    async def test_org_admin_creates_project(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.post(
            PROJECTS,
            json={"org_id": str(org_id), "slug": "rnaseq", "name": "RNA-seq"},
            headers=carol.headers,
        )

        assert response.status_code == 201, response.text
        assert response.json()["org_id"] == str(org_id)
        mine = await admin_client.get(PROJECTS, headers=carol.headers)
        assert [(p["slug"], p["role"]) for p in mine.json()["items"]] == [("rnaseq", "admin")]

    async def test_org_member_cannot_create(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.post(
            PROJECTS,
            json={"org_id": str(org_id), "slug": "rnaseq", "name": "RNA-seq"},
            headers=bob.headers,
        )

        assert response.status_code == 403, response.text

    async def test_slug_taken_in_org_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)
        await factory.project(org_id, slug="rnaseq")

        response = await admin_client.post(
            PROJECTS,
            json={"org_id": str(org_id), "slug": "rnaseq", "name": "Again"},
            headers=alice.headers,
        )

        assert response.status_code == 409, response.text
        assert "rnaseq" in response.json()["detail"]


class TestListProjects:
    async def test_org_admin_sees_every_project_of_the_org(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})
        for slug in ("b-project", "a-project"):
            await factory.project(org_id, slug=slug)
        await factory.project(await factory.org(await factory.user("zed")), slug="elsewhere")

        response = await admin_client.get(PROJECTS, headers=carol.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 2
        assert [(p["slug"], p["role"]) for p in body["items"]] == [
            ("a-project", "admin"),
            ("b-project", "admin"),
        ]

    async def test_org_member_sees_only_their_projects(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})
        await factory.project(org_id, slug="mine", members={bob: "editor"})
        await factory.project(org_id, slug="not-mine")

        response = await admin_client.get(
            PROJECTS, params={"org_id": str(org_id)}, headers=bob.headers
        )

        assert [(p["slug"], p["role"]) for p in response.json()["items"]] == [("mine", "editor")]


class TestGetProject:
    async def test_member_of_org_but_not_project_gets_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})
        project_id = await factory.project(org_id)

        response = await admin_client.get(f"{PROJECTS}/{project_id}", headers=bob.headers)

        assert response.status_code == 404, response.text

    async def test_viewer_reads_with_role(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.get(f"{PROJECTS}/{project_id}", headers=bob.headers)

        assert response.status_code == 200, response.text
        assert response.json()["role"] == "viewer"


class TestUpdateProject:
    async def test_viewer_cannot_update(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.patch(
            f"{PROJECTS}/{project_id}", json={"name": "Mine now"}, headers=bob.headers
        )

        assert response.status_code == 403, response.text
        assert "Ask a project admin" in response.json()["detail"]

    async def test_editor_cannot_update(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "editor"})

        response = await admin_client.patch(
            f"{PROJECTS}/{project_id}", json={"name": "Mine now"}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_project_admin_updates(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(
            await factory.org(alice), slug="rnaseq", members={bob: "admin"}
        )

        response = await admin_client.patch(
            f"{PROJECTS}/{project_id}", json={"description": "bulk"}, headers=bob.headers
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["slug"], body["name"], body["description"]) == ("rnaseq", "Rnaseq", "bulk")


class TestDeleteProject:
    async def test_editor_cannot_delete(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "editor"})

        response = await admin_client.delete(f"{PROJECTS}/{project_id}", headers=bob.headers)

        assert response.status_code == 403, response.text

    async def test_project_admin_deletes(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "admin"})

        response = await admin_client.delete(f"{PROJECTS}/{project_id}", headers=bob.headers)

        assert response.status_code == 204, response.text
        gone = await admin_client.get(f"{PROJECTS}/{project_id}", headers=alice.headers)
        assert gone.status_code == 404


class TestAddProjectMember:
    async def test_project_admin_adds_org_member(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, dave = [await factory.user(name) for name in ("alice", "bob", "dave")]
        org_id = await factory.org(alice, members={dave: "member"})
        project_id = await factory.project(org_id, members={bob: "admin"})

        response = await admin_client.post(
            members_url(project_id),
            json={"user_id": str(dave.id), "role": "editor"},
            headers=bob.headers,
        )

        assert response.status_code == 201, response.text
        assert await member_roles(admin_client, bob, project_id) == {
            "bob": "admin",
            "dave": "editor",
        }
        seen = await admin_client.get(f"{PROJECTS}/{project_id}", headers=dave.headers)
        assert seen.json()["role"] == "editor"

    async def test_default_role_is_viewer(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, dave = await factory.user("alice"), await factory.user("dave")
        org_id = await factory.org(alice, members={dave: "member"})
        project_id = await factory.project(org_id)

        response = await admin_client.post(
            members_url(project_id), json={"username": "dave"}, headers=alice.headers
        )

        assert response.status_code == 201, response.text
        assert response.json()["role"] == "viewer"

    async def test_user_outside_the_org_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        await factory.user("stranger")
        project_id = await factory.project(await factory.org(alice))

        response = await admin_client.post(
            members_url(project_id), json={"username": "stranger"}, headers=alice.headers
        )

        assert response.status_code == 409, response.text
        assert "add them to the organisation first" in response.json()["detail"]

    async def test_editor_cannot_add(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, bob, dave = [await factory.user(name) for name in ("alice", "bob", "dave")]
        org_id = await factory.org(alice, members={dave: "member"})
        project_id = await factory.project(org_id, members={bob: "editor"})

        response = await admin_client.post(
            members_url(project_id), json={"username": "dave"}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_existing_member_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.post(
            members_url(project_id), json={"username": "bob"}, headers=alice.headers
        )

        assert response.status_code == 409, response.text


class TestUpdateProjectMember:
    async def test_admin_changes_role(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.patch(
            members_url(project_id, bob.id), json={"role": "editor"}, headers=alice.headers
        )

        assert response.status_code == 200, response.text
        assert response.json()["role"] == "editor"
        seen = await admin_client.get(f"{PROJECTS}/{project_id}", headers=bob.headers)
        assert seen.json()["role"] == "editor"

    async def test_viewer_cannot_promote_self(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.patch(
            members_url(project_id, bob.id), json={"role": "admin"}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_non_member_is_404(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        project_id = await factory.project(await factory.org(alice))

        response = await admin_client.patch(
            members_url(project_id, alice.id), json={"role": "editor"}, headers=alice.headers
        )

        assert response.status_code == 404, response.text


class TestRemoveProjectMember:
    async def test_admin_removes_member(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "editor"})

        response = await admin_client.delete(members_url(project_id, bob.id), headers=alice.headers)

        assert response.status_code == 204, response.text
        gone = await admin_client.get(f"{PROJECTS}/{project_id}", headers=bob.headers)
        assert gone.status_code == 404

    async def test_viewer_leaves(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.delete(members_url(project_id, bob.id), headers=bob.headers)

        assert response.status_code == 204, response.text
        assert await member_roles(admin_client, alice, project_id) == {}

    async def test_viewer_cannot_remove_others(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, dave = [await factory.user(name) for name in ("alice", "bob", "dave")]
        project_id = await factory.project(
            await factory.org(alice), members={bob: "viewer", dave: "editor"}
        )

        response = await admin_client.delete(members_url(project_id, dave.id), headers=bob.headers)

        assert response.status_code == 403, response.text


class TestGetProjectCredentials:
    async def test_viewer_gets_location_without_secrets(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        project_id = await factory.project(await factory.org(alice), members={bob: "viewer"})

        response = await admin_client.get(
            f"{PROJECTS}/{project_id}/credentials", headers=bob.headers
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["project_id"] == str(project_id)
        assert body["backend"] == "local"
        assert body["prefix"] == f"projects/{project_id}/"
        assert body["uri"].startswith("file://")
        assert body["uri"].endswith(f"/projects/{project_id}/")
        assert body["credentials"] is None
        assert set(body) == {
            "project_id",
            "backend",
            "bucket",
            "prefix",
            "region",
            "endpoint_url",
            "uri",
            "credentials",
        }
        lowered = response.text.lower()
        assert not any(word in lowered for word in ("secret", "password", "access_key"))

    async def test_org_member_outside_the_project_gets_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})
        project_id = await factory.project(org_id)

        response = await admin_client.get(
            f"{PROJECTS}/{project_id}/credentials", headers=bob.headers
        )

        assert response.status_code == 404, response.text
