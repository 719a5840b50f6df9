"""Racing requests: one wins, the other gets a 409, never a 500 or a broken invariant.

Requests that race need their own connections and real commits, which the per-test rolled-back
transaction cannot give; so these tests run admin on its own engine and delete what they made.
The audit rows they write stay: the table is append-only by design, and the test database is
dropped at the end of the session.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from nfhub_admin.main import create_app
from nfhub_admin.models import Org, OrgMembership, User
from support.factory import Actor, Factory

ROUNDS = 3


@dataclass
class LiveAdmin:
    app: FastAPI
    client: httpx.AsyncClient
    factory: Factory
    users: list[uuid.UUID] = field(default_factory=list)
    orgs: list[uuid.UUID] = field(default_factory=list)

    async def user(self) -> Actor:
        actor = await self.factory.user(f"race-{secrets.token_hex(4)}")
        self.users.append(actor.id)
        return actor

    async def org(self, owner: Actor, members: dict[Actor, str]) -> uuid.UUID:
        org_id = await self.factory.org(owner, members=members)
        self.orgs.append(org_id)
        return org_id

    async def owners(self, org_id: uuid.UUID) -> int:
        async with self.app.state.sessionmaker() as session:
            statement = select(func.count()).where(
                OrgMembership.org_id == org_id, OrgMembership.role == "owner"
            )
            return int((await session.execute(statement)).scalar_one())


@pytest.fixture
async def live(admin_settings: Any) -> AsyncIterator[LiveAdmin]:
    """admin with its own engine (each request its own connection and commit)."""
    app = create_app(admin_settings.model_copy(update={"DATABASE_POOL_SIZE": 4}))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://admin.test"
        ) as client,
    ):
        live = LiveAdmin(app, client, Factory(app.state.sessionmaker, app))
        try:
            yield live
        finally:
            async with app.state.sessionmaker() as session, session.begin():
                await session.execute(delete(Org).where(Org.id.in_(live.orgs)))
                await session.execute(delete(User).where(User.id.in_(live.users)))


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


class TestConcurrentOwnerChanges:
    async def test_two_owners_stepping_down_leave_one_owner(self, live: LiveAdmin) -> None:
        for _ in range(ROUNDS):
            alice, dave = await live.user(), await live.user()
            org_id = await live.org(alice, {dave: "owner"})

            responses = await asyncio.gather(
                *(
                    live.client.patch(
                        f"/api/v1/orgs/{org_id}/members/{actor.id}",
                        json={"role": "admin"},
                        headers=actor.headers,
                    )
                    for actor in (alice, dave)
                )
            )

            assert statuses(responses) == [200, 409], [r.text for r in responses]
            loser = next(r for r in responses if r.status_code == 409)
            assert loser.headers["content-type"] == "application/problem+json"
            assert "last owner" in loser.json()["detail"]
            assert await live.owners(org_id) == 1

    async def test_two_admins_setting_one_members_role_both_apply_in_turn(
        self, live: LiveAdmin
    ) -> None:
        alice, dave, bob = await live.user(), await live.user(), await live.user()
        org_id = await live.org(alice, {dave: "admin", bob: "member"})
        url = f"/api/v1/orgs/{org_id}/members/{bob.id}"

        responses = await asyncio.gather(
            live.client.patch(url, json={"role": "admin"}, headers=alice.headers),
            live.client.patch(url, json={"role": "member"}, headers=dave.headers),
        )

        assert statuses(responses) == [200, 200], [r.text for r in responses]
        final = await live.client.get(f"/api/v1/orgs/{org_id}", headers=bob.headers)
        assert final.json()["role"] in {"admin", "member"}

    async def test_two_owners_leaving_leave_one_owner(self, live: LiveAdmin) -> None:
        for _ in range(ROUNDS):
            alice, dave = await live.user(), await live.user()
            org_id = await live.org(alice, {dave: "owner"})

            responses = await asyncio.gather(
                *(
                    live.client.delete(
                        f"/api/v1/orgs/{org_id}/members/{actor.id}", headers=actor.headers
                    )
                    for actor in (alice, dave)
                )
            )

            assert statuses(responses) == [204, 409], [r.text for r in responses]
            assert await live.owners(org_id) == 1


class TestConcurrentOrgCreation:
    async def test_same_slug_twice_creates_one_org(self, live: LiveAdmin) -> None:
        alice, dave = await live.user(), await live.user()
        for _ in range(ROUNDS):
            slug = f"race-{secrets.token_hex(4)}"

            responses = await asyncio.gather(
                *(
                    live.client.post(
                        "/api/v1/orgs", json={"slug": slug, "name": "Race"}, headers=actor.headers
                    )
                    for actor in (alice, dave)
                )
            )

            live.orgs += [uuid.UUID(r.json()["id"]) for r in responses if r.status_code == 201]
            assert statuses(responses) == [201, 409], [r.text for r in responses]
            loser = next(r for r in responses if r.status_code == 409)
            assert loser.headers["content-type"] == "application/problem+json"
            async with live.app.state.sessionmaker() as session:
                members = await session.scalar(
                    select(func.count())
                    .select_from(OrgMembership)
                    .join(Org, Org.id == OrgMembership.org_id)
                    .where(Org.slug == slug)
                )
            assert members == 1
