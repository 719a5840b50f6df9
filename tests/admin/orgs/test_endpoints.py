from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.models import ProjectMembership

ORGS = "/api/v1/orgs"


def members_url(org_id: uuid.UUID, user_id: uuid.UUID | None = None) -> str:
    url = f"{ORGS}/{org_id}/members"
    return f"{url}/{user_id}" if user_id else url


async def roles(client: httpx.AsyncClient, actor: Any, org_id: uuid.UUID) -> dict[str, str]:
    response = await client.get(members_url(org_id), headers=actor.headers)
    assert response.status_code == 200, response.text
    return {item["username"]: item["role"] for item in response.json()["items"]}


class TestCreateOrg:
    async def test_creator_becomes_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.post(
            ORGS, json={"slug": "acme", "name": "Acme Lab"}, headers=alice.headers
        )

        assert response.status_code == 201, response.text
        org = response.json()
        assert org["slug"] == "acme"
        assert org["name"] == "Acme Lab"
        assert await roles(admin_client, alice, org["id"]) == {"alice": "owner"}
        mine = await admin_client.get(ORGS, headers=alice.headers)
        assert [(o["slug"], o["role"]) for o in mine.json()["items"]] == [("acme", "owner")]

    async def test_taken_slug_is_409(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        await factory.org(await factory.user("bob"), slug="acme")

        response = await admin_client.post(
            ORGS, json={"slug": "acme", "name": "Acme"}, headers=alice.headers
        )

        assert response.status_code == 409, response.text
        assert "acme" in response.json()["detail"]


class TestGetOrg:
    async def test_member_reads_org_with_their_role(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.get(f"{ORGS}/{org_id}", headers=bob.headers)

        assert response.status_code == 200, response.text
        assert response.json()["role"] == "member"

    async def test_non_member_gets_404(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        org_id = await factory.org(await factory.user("alice"))
        outsider = await factory.user("outsider")

        response = await admin_client.get(f"{ORGS}/{org_id}", headers=outsider.headers)

        assert response.status_code == 404, response.text


class TestUpdateOrg:
    async def test_member_cannot_update(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.patch(
            f"{ORGS}/{org_id}", json={"name": "Renamed"}, headers=bob.headers
        )

        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "admin" in response.json()["detail"]

    async def test_admin_updates_only_given_fields(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, slug="acme", members={carol: "admin"})
        await admin_client.patch(
            f"{ORGS}/{org_id}", json={"description": "Sequencing"}, headers=alice.headers
        )

        response = await admin_client.patch(
            f"{ORGS}/{org_id}", json={"name": "Acme Genomics"}, headers=carol.headers
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["slug"], body["name"], body["description"], body["role"]) == (
            "acme",
            "Acme Genomics",
            "Sequencing",
            "admin",
        )


class TestDeleteOrg:
    async def test_admin_cannot_delete(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.delete(f"{ORGS}/{org_id}", headers=carol.headers)

        assert response.status_code == 403, response.text
        assert "owner" in response.json()["detail"]

    async def test_owner_deletes_org_and_its_projects(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)
        project_id = await factory.project(org_id)

        response = await admin_client.delete(f"{ORGS}/{org_id}", headers=alice.headers)

        assert response.status_code == 204, response.text
        gone = await admin_client.get(f"{ORGS}/{org_id}", headers=alice.headers)
        assert gone.status_code == 404
        project = await admin_client.get(f"/api/v1/projects/{project_id}", headers=alice.headers)
        assert project.status_code == 404


class TestListOrgMembers:
    async def test_lists_members_sorted_by_username(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, carol = [await factory.user(name) for name in ("alice", "bob", "carol")]
        org_id = await factory.org(carol, members={alice: "admin", bob: "member"})

        response = await admin_client.get(members_url(org_id), headers=bob.headers)

        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [(m["username"], m["role"]) for m in items] == [
            ("alice", "admin"),
            ("bob", "member"),
            ("carol", "owner"),
        ]
        assert items[0]["user_id"] == str(alice.id)


class TestAddOrgMember:
    async def test_admin_adds_member_by_username(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        dave = await factory.user("dave")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.post(
            members_url(org_id), json={"username": "dave", "role": "admin"}, headers=carol.headers
        )

        assert response.status_code == 201, response.text
        assert response.json()["user_id"] == str(dave.id)
        assert response.json()["role"] == "admin"
        joined = await admin_client.get(f"{ORGS}/{org_id}", headers=dave.headers)
        assert joined.json()["role"] == "admin"

    async def test_member_cannot_add(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        dave = await factory.user("dave")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.post(
            members_url(org_id), json={"user_id": str(dave.id)}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_admin_cannot_grant_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        await factory.user("dave")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.post(
            members_url(org_id), json={"username": "dave", "role": "owner"}, headers=carol.headers
        )

        assert response.status_code == 403, response.text
        assert "dave" not in await roles(admin_client, alice, org_id)

    async def test_owner_adds_owner(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        await factory.user("dave")
        org_id = await factory.org(alice)

        response = await admin_client.post(
            members_url(org_id), json={"username": "dave", "role": "owner"}, headers=alice.headers
        )

        assert response.status_code == 201, response.text
        assert await roles(admin_client, alice, org_id) == {"alice": "owner", "dave": "owner"}

    async def test_existing_member_is_409(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.post(
            members_url(org_id), json={"username": "bob"}, headers=alice.headers
        )

        assert response.status_code == 409, response.text
        assert "change their role" in response.json()["detail"]

    async def test_unknown_user_is_404(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)

        response = await admin_client.post(
            members_url(org_id), json={"username": "nobody"}, headers=alice.headers
        )

        assert response.status_code == 404, response.text


class TestUpdateOrgMember:
    async def test_admin_changes_member_role(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, carol = [await factory.user(name) for name in ("alice", "bob", "carol")]
        org_id = await factory.org(alice, members={bob: "member", carol: "admin"})

        response = await admin_client.patch(
            members_url(org_id, bob.id), json={"role": "admin"}, headers=carol.headers
        )

        assert response.status_code == 200, response.text
        assert (response.json()["username"], response.json()["role"]) == ("bob", "admin")

    async def test_admin_cannot_promote_to_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, carol = [await factory.user(name) for name in ("alice", "bob", "carol")]
        org_id = await factory.org(alice, members={bob: "member", carol: "admin"})

        response = await admin_client.patch(
            members_url(org_id, bob.id), json={"role": "owner"}, headers=carol.headers
        )

        assert response.status_code == 403, response.text

    async def test_admin_cannot_demote_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})

        response = await admin_client.patch(
            members_url(org_id, alice.id), json={"role": "member"}, headers=carol.headers
        )

        assert response.status_code == 403, response.text
        assert (await roles(admin_client, alice, org_id))["alice"] == "owner"

    async def test_last_owner_cannot_be_demoted(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice, slug="acme")

        response = await admin_client.patch(
            members_url(org_id, alice.id), json={"role": "admin"}, headers=alice.headers
        )

        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["title"] == "Last owner"
        assert "last owner of acme" in problem["detail"]
        assert "make someone else owner first" in problem["detail"]

    async def test_owner_steps_down_when_another_owner_exists(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, dave = await factory.user("alice"), await factory.user("dave")
        org_id = await factory.org(alice, members={dave: "owner"})

        response = await admin_client.patch(
            members_url(org_id, alice.id), json={"role": "member"}, headers=alice.headers
        )

        assert response.status_code == 200, response.text
        assert await roles(admin_client, dave, org_id) == {"alice": "member", "dave": "owner"}

    async def test_non_member_target_is_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, stranger = await factory.user("alice"), await factory.user("stranger")
        org_id = await factory.org(alice)

        response = await admin_client.patch(
            members_url(org_id, stranger.id), json={"role": "admin"}, headers=alice.headers
        )

        assert response.status_code == 404, response.text


class TestRemoveOrgMember:
    async def test_admin_removes_member(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, carol = [await factory.user(name) for name in ("alice", "bob", "carol")]
        org_id = await factory.org(alice, members={bob: "member", carol: "admin"})

        response = await admin_client.delete(members_url(org_id, bob.id), headers=carol.headers)

        assert response.status_code == 204, response.text
        assert "bob" not in await roles(admin_client, alice, org_id)
        lost = await admin_client.get(f"{ORGS}/{org_id}", headers=bob.headers)
        assert lost.status_code == 404

    async def test_member_cannot_remove_someone_else(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, bob, dave = [await factory.user(name) for name in ("alice", "bob", "dave")]
        org_id = await factory.org(alice, members={bob: "member", dave: "member"})

        response = await admin_client.delete(members_url(org_id, dave.id), headers=bob.headers)

        assert response.status_code == 403, response.text

    async def test_admin_cannot_remove_owner(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol, dave = [await factory.user(name) for name in ("alice", "carol", "dave")]
        org_id = await factory.org(alice, members={carol: "admin", dave: "owner"})

        response = await admin_client.delete(members_url(org_id, dave.id), headers=carol.headers)

        assert response.status_code == 403, response.text

    async def test_last_owner_cannot_leave(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice, slug="acme")

        response = await admin_client.delete(members_url(org_id, alice.id), headers=alice.headers)

        assert response.status_code == 409, response.text
        assert "make someone else owner first" in response.json()["detail"]
        assert await roles(admin_client, alice, org_id) == {"alice": "owner"}

    async def test_leaving_ends_project_memberships_in_that_org_only(
        self, admin_client: httpx.AsyncClient, factory: Any, db_session: AsyncSession
    ) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice)
        first = await factory.project(org_id, members={bob: "editor"})
        second = await factory.project(org_id, members={bob: "viewer"})
        elsewhere = await factory.project(await factory.org(bob), members={bob: "admin"})

        response = await admin_client.delete(members_url(org_id, bob.id), headers=bob.headers)

        assert response.status_code == 204, response.text
        left = await db_session.scalars(
            select(ProjectMembership.project_id).where(ProjectMembership.user_id == bob.id)
        )
        assert set(left) == {elsewhere}
        for project_id in (first, second):
            gone = await admin_client.get(f"/api/v1/projects/{project_id}", headers=bob.headers)
            assert gone.status_code == 404
