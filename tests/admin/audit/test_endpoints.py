from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.models import Org, audit_events
from nfhub_admin.orgs.repository import OrgRepository
from nfhub_shared.errors import Conflict

AUDIT = "/api/v1/audit-events"


async def events_of(session: AsyncSession, org_id: uuid.UUID) -> list[str]:
    rows = await session.scalars(
        select(audit_events.c.action)
        .where(audit_events.c.org_id == org_id)
        .order_by(audit_events.c.occurred_at)
    )
    return list(rows)


class TestListAuditEvents:
    async def test_admin_lists_the_orgs_events_newest_first(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        created = await admin_client.post(
            "/api/v1/orgs", json={"slug": "acme", "name": "Acme"}, headers=alice.headers
        )
        org_id = created.json()["id"]
        await admin_client.post(
            f"/api/v1/orgs/{org_id}/members",
            json={"username": "carol", "role": "admin"},
            headers=alice.headers,
        )
        await admin_client.patch(
            f"/api/v1/orgs/{org_id}", json={"name": "Acme Lab"}, headers=carol.headers
        )
        other = await factory.org(alice)
        await admin_client.patch(f"/api/v1/orgs/{other}", json={"name": "x"}, headers=alice.headers)

        response = await admin_client.get(AUDIT, params={"org_id": org_id}, headers=carol.headers)

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 3
        assert [e["action"] for e in body["items"]] == [
            "org.update",
            "org.member.add",
            "org.create",
        ]
        latest = body["items"][0]
        assert latest["actor_id"] == str(carol.id)
        assert latest["actor_kind"] == "user"
        assert latest["resource_type"] == "org"
        assert latest["details"] == {"fields": ["name"]}
        assert latest["request_id"]

    async def test_filters_and_paging(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, carol = await factory.user("alice"), await factory.user("carol")
        org_id = await factory.org(alice, members={carol: "admin"})
        headers = {alice.id: alice.headers, carol.id: carol.headers}
        for actor_id in (alice.id, carol.id, alice.id):
            await admin_client.patch(
                f"/api/v1/orgs/{org_id}", json={"name": "n"}, headers=headers[actor_id]
            )
        middle = datetime.now(UTC)
        await factory.project(org_id)
        await admin_client.post(
            "/api/v1/projects",
            json={"org_id": str(org_id), "slug": "rnaseq", "name": "RNA"},
            headers=carol.headers,
        )
        await admin_client.patch(
            f"/api/v1/orgs/{org_id}", json={"name": "m"}, headers=alice.headers
        )

        async def listed(**params: Any) -> dict[str, Any]:
            response = await admin_client.get(
                AUDIT, params={"org_id": str(org_id), **params}, headers=alice.headers
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        assert (await listed(actor_id=str(alice.id)))["count"] == 3
        assert (await listed(actor_id=str(carol.id)))["count"] == 2
        assert (await listed(action="org.update"))["count"] == 4
        projects = await listed(resource_type="project")
        assert [e["action"] for e in projects["items"]] == ["project.create"]
        assert projects["items"][0]["project_id"] is not None
        after = await listed(occurred_after=middle.isoformat())
        assert [e["action"] for e in after["items"]] == ["org.update", "project.create"]
        before = await listed(occurred_before=middle.isoformat())
        assert before["count"] == 3
        page = await listed(action="org.update", limit=3, offset=3)
        assert (page["count"], page["limit"], page["offset"], len(page["items"])) == (4, 3, 3, 1)
        none = await listed(actor_id=str(uuid.uuid4()))
        assert none == {"items": [], "count": 0, "limit": 50, "offset": 0}

    async def test_member_gets_403(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice, bob = await factory.user("alice"), await factory.user("bob")
        org_id = await factory.org(alice, members={bob: "member"})

        response = await admin_client.get(
            AUDIT, params={"org_id": str(org_id)}, headers=bob.headers
        )

        assert response.status_code == 403, response.text

    async def test_org_id_is_required(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get(AUDIT, headers=alice.headers)

        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "org_id"

    async def test_token_without_audit_scope_is_403(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice", scopes=frozenset({"orgs:read"}))
        org_id = await factory.org(alice)

        response = await admin_client.get(
            AUDIT, params={"org_id": str(org_id)}, headers=alice.headers
        )

        assert response.status_code == 403, response.text
        assert "insufficient_scope" in response.headers["www-authenticate"]


class TestAuditTransaction:
    async def test_event_is_written_by_the_changes_transaction(
        self, admin_client: httpx.AsyncClient, factory: Any, db_session: AsyncSession
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.post(
            "/api/v1/orgs",
            json={"slug": "acme", "name": "Acme"},
            headers={**alice.headers, "X-Request-ID": "req-audit-1"},
        )

        org_id = uuid.UUID(response.json()["id"])
        # xmin is the id of the (sub)transaction that inserted a row.
        org_xmin = await db_session.scalar(
            text("SELECT xmin::text FROM admin.orgs WHERE id = :id"), {"id": org_id}
        )
        event = (
            await db_session.execute(
                text(
                    "SELECT xmin::text AS xmin, request_id FROM admin.audit_events "
                    "WHERE org_id = :id"
                ),
                {"id": org_id},
            )
        ).one()
        assert event.xmin == org_xmin
        assert event.request_id == "req-audit-1"

    async def test_failed_request_leaves_no_event(
        self,
        admin_client: httpx.AsyncClient,
        factory: Any,
        db_session: AsyncSession,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)

        async def refuse(self: OrgRepository, record: Org) -> None:
            raise Conflict("refused after the audit event was written")

        # delete_org writes its audit event first, then deletes: fail the delete.
        monkeypatch.setattr(OrgRepository, "delete", refuse)
        response = await admin_client.delete(f"/api/v1/orgs/{org_id}", headers=alice.headers)

        assert response.status_code == 409, response.text
        assert await events_of(db_session, org_id) == []

    async def test_refused_change_leaves_no_event(
        self, admin_client: httpx.AsyncClient, factory: Any, db_session: AsyncSession
    ) -> None:
        alice = await factory.user("alice")
        org_id = await factory.org(alice)

        response = await admin_client.patch(
            f"/api/v1/orgs/{org_id}/members/{alice.id}",
            json={"role": "member"},
            headers=alice.headers,
        )

        assert response.status_code == 409, response.text
        assert await events_of(db_session, org_id) == []


class TestAuditAppendOnly:
    @pytest.mark.parametrize(
        "statement",
        [
            update(audit_events).values(action="tampered"),
            delete(audit_events),
        ],
        ids=["update", "delete"],
    )
    async def test_database_refuses_changes(
        self,
        admin_client: httpx.AsyncClient,
        factory: Any,
        db_session: AsyncSession,
        statement: Any,
    ) -> None:
        alice = await factory.user("alice")
        await admin_client.post(
            "/api/v1/orgs", json={"slug": "acme", "name": "Acme"}, headers=alice.headers
        )
        count = select(func.count()).select_from(audit_events)
        before = await db_session.scalar(count)
        assert before

        with pytest.raises(DBAPIError, match="append-only"):
            async with db_session.begin_nested():
                await db_session.execute(statement)

        assert await db_session.scalar(count) == before
