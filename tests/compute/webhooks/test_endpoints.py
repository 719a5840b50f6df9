"""Run webhooks over the API: who manages them, what the answers show (the secret once),
refused targets (SSRF), bad input, other projects' webhooks."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.models import Webhook, audit_events
from support.inprocess import Team

PROBLEM_JSON = "application/problem+json"
URL = "https://lims.example.org/hooks/nfhub"


# Private, loopback, link-local, CGNAT, IPv4-mapped, unspecified: refused at save.
REFUSED_URLS = [
    "http://127.0.0.1:9000/hook",
    "http://localhost/hook",
    "https://10.1.2.3/hook",
    "https://192.168.1.20/hook",
    "http://169.254.169.254/latest/meta-data",
    "https://100.64.1.1/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://0.0.0.0/hook",
]
BAD_BODIES: list[dict[str, Any]] = [
    {"url": "ftp://example.org/x", "events": ["run.completed"]},
    {"url": URL, "events": []},
    {"url": URL, "events": ["order.transitioned"]},
    {"url": URL, "events": ["run.completed"], "secret": "whsec_mine"},
    {"url": URL, "events": "run.completed"},
    {"url": URL + "/" + "x" * 2100, "events": ["run.completed"]},
    {"events": ["run.completed"]},
    {"url": URL, "events": ["run.completed"], "enabled": "yes"},
    {"url": URL, "events": ["run.completed"], "description": "d" * 501},
]


async def create(
    client: httpx.AsyncClient, team: Team, role: str = "editor", **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/webhooks",
        json={"url": URL, "events": ["run.completed", "run.failed"], **body},
        headers=team.headers(role),
    )


class TestCreateWebhook:
    async def test_secret_shown_once_and_sealed_at_rest(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        created = await create(compute_client, team, description="LIMS")
        assert created.status_code == 201, created.text
        body = created.json()
        secret = body["secret"]
        assert secret.startswith("whsec_")
        assert body["events"] == ["run.completed", "run.failed"]
        assert created.headers["location"].endswith(f"/webhooks/{body['id']}")

        hdrs = team.headers("editor")
        answers = [
            await compute_client.get(f"/api/v1/webhooks/{body['id']}", headers=hdrs),
            await compute_client.get("/api/v1/webhooks", headers=hdrs),
            await compute_client.patch(
                f"/api/v1/webhooks/{body['id']}", json={"enabled": False}, headers=hdrs
            ),
            await compute_client.get(f"/api/v1/webhooks/{body['id']}/deliveries", headers=hdrs),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert secret not in answer.text
            assert '"secret"' not in answer.text and "whsec_" not in answer.text
        async with session_factory() as session:
            sealed = await session.scalar(
                select(Webhook.secret_sealed).where(Webhook.id == uuid.UUID(body["id"]))
            )
        assert sealed is not None and secret not in sealed and sealed.startswith("v1.")
        async with session_factory() as session:
            audited = (
                await session.execute(
                    select(audit_events.c.action, audit_events.c.details).where(
                        audit_events.c.resource_id == body["id"]
                    )
                )
            ).all()
        assert [row.action for row in audited] == ["webhook.create", "webhook.update"]
        # The host, not the URL (it may hold the receiver's token), never the secret.
        assert audited[0].details == {
            "host": "lims.example.org",
            "events": ["run.completed", "run.failed"],
        }

    async def test_private_targets_are_refused(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        for url in REFUSED_URLS:
            response = await create(compute_client, team, url=url)
            assert response.status_code == 422, (url, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
            assert [e["field"] for e in response.json()["errors"]] == ["url"], url

    async def test_bad_bodies_are_422(self, compute_client: httpx.AsyncClient, team: Team) -> None:
        for body in BAD_BODIES:
            response = await compute_client.post(
                "/api/v1/webhooks", json=body, headers=team.headers("editor")
            )
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON

    async def test_refused_on_update_too(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        webhook = (await create(compute_client, team)).json()
        response = await compute_client.patch(
            f"/api/v1/webhooks/{webhook['id']}",
            json={"url": "http://10.0.0.1/x"},
            headers=team.headers("editor"),
        )
        assert response.status_code == 422, response.text
        null = await compute_client.patch(
            f"/api/v1/webhooks/{webhook['id']}", json={"url": None}, headers=team.headers("editor")
        )
        assert null.status_code == 422


class TestRoles:
    async def test_viewer_can_neither_manage_nor_read(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        webhook = (await create(compute_client, team)).json()
        viewer = team.headers("viewer")
        assert (await create(compute_client, team, role="viewer")).status_code == 403
        for method, path in [
            ("GET", "/api/v1/webhooks"),
            ("GET", f"/api/v1/webhooks/{webhook['id']}"),
            ("PATCH", f"/api/v1/webhooks/{webhook['id']}"),
            ("DELETE", f"/api/v1/webhooks/{webhook['id']}"),
            ("POST", f"/api/v1/webhooks/{webhook['id']}/test"),
            ("GET", f"/api/v1/webhooks/{webhook['id']}/deliveries"),
        ]:
            kwargs: dict[str, Any] = {"json": {"enabled": False}} if method == "PATCH" else {}
            response = await compute_client.request(method, path, headers=viewer, **kwargs)
            assert response.status_code == 403, (method, path, response.text)

    async def test_no_token_is_401(self, compute_client: httpx.AsyncClient, team: Team) -> None:
        response = await compute_client.get(
            "/api/v1/webhooks", headers={"X-Project-ID": str(team.project_id)}
        )
        assert response.status_code == 401

    async def test_other_projects_webhooks_are_404(
        self, compute_client: httpx.AsyncClient, team: Team, factory: Any
    ) -> None:
        webhook = (await create(compute_client, team)).json()
        stranger = await factory.user()
        other_org = await factory.org(stranger)
        other_project = await factory.project(other_org, members={stranger: "admin"})
        hdrs = dict(stranger.in_project(other_project))
        for method, path in [
            ("GET", f"/api/v1/webhooks/{webhook['id']}"),
            ("DELETE", f"/api/v1/webhooks/{webhook['id']}"),
            ("POST", f"/api/v1/webhooks/{webhook['id']}/test"),
            ("GET", f"/api/v1/webhooks/{webhook['id']}/deliveries"),
        ]:
            response = await compute_client.request(method, path, headers=hdrs)
            assert response.status_code == 404, (method, path, response.text)
        listed = await compute_client.get("/api/v1/webhooks", headers=hdrs)
        assert listed.json()["count"] == 0
        # Still there for its own project.
        mine = await compute_client.get(
            f"/api/v1/webhooks/{webhook['id']}", headers=team.headers("editor")
        )
        assert mine.status_code == 200


class TestUpdateAndDelete:
    async def test_patch_then_delete(self, compute_client: httpx.AsyncClient, team: Team) -> None:
        webhook = (await create(compute_client, team)).json()
        hdrs = team.headers("editor")
        patched = await compute_client.patch(
            f"/api/v1/webhooks/{webhook['id']}",
            json={"events": ["run.started", "run.started"], "description": None},
            headers=hdrs,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["events"] == ["run.started"]
        deleted = await compute_client.delete(f"/api/v1/webhooks/{webhook['id']}", headers=hdrs)
        assert deleted.status_code == 204
        gone = await compute_client.get(f"/api/v1/webhooks/{webhook['id']}", headers=hdrs)
        assert gone.status_code == 404

    async def test_test_event_to_disabled_webhook_is_409(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        webhook = (await create(compute_client, team, enabled=False)).json()
        response = await compute_client.post(
            f"/api/v1/webhooks/{webhook['id']}/test", headers=team.headers("editor")
        )
        assert response.status_code == 409, response.text


class TestKeyRotation:
    async def test_reseal_moves_secrets_to_the_new_key(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Any,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        from pydantic import SecretStr

        from nfhub_compute.webhooks.repository import webhook_repository
        from nfhub_compute.webhooks.service import key_ring
        from nfhub_shared.webhooks.service import reseal_batch, secret_binding

        secret = (await create(compute_client, team)).json()["secret"]
        new_key = "cd" * 32
        rotated = compute_settings.model_copy(
            update={
                "SECRETS_KEY": SecretStr(new_key),
                "SECRETS_OLD_KEYS": [compute_settings.SECRETS_KEY],
            }
        )
        async with session_factory() as session, session.begin():
            resealed, after = await reseal_batch(
                webhook_repository(session), key_ring(rotated), None
            )
        assert (resealed, after) == (1, None)
        only_new = key_ring(rotated.model_copy(update={"SECRETS_OLD_KEYS": []}))
        async with session_factory() as session:
            row = await session.scalar(select(Webhook))
        assert row is not None
        assert only_new.open(row.secret_sealed, secret_binding(row.id)) == secret

    async def test_reseal_moves_a_previous_secret_left_under_the_old_key(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Any,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        """rotate-secret after the key changed: the new secret is under the new key, the one
        still signing beside it under the old one; a reseal must move that one too."""
        from pydantic import SecretStr

        from nfhub_compute.webhooks.repository import webhook_repository
        from nfhub_compute.webhooks.service import key_ring
        from nfhub_shared.webhooks.service import reseal_batch, secret_binding

        secret = (await create(compute_client, team)).json()["secret"]
        rotated = compute_settings.model_copy(
            update={
                "SECRETS_KEY": SecretStr("cd" * 32),
                "SECRETS_OLD_KEYS": [compute_settings.SECRETS_KEY],
            }
        )
        old_ring, new_ring = key_ring(compute_settings), key_ring(rotated)
        async with session_factory() as session, session.begin():
            row = await session.scalar(select(Webhook))
            assert row is not None
            where = secret_binding(row.id)
            row.previous_secret_sealed = old_ring.seal("whsec_previous", where)
            row.secret_sealed = new_ring.seal(secret, where)
        async with session_factory() as session, session.begin():
            resealed, _ = await reseal_batch(webhook_repository(session), new_ring, None)
        assert resealed == 1
        only_new = key_ring(rotated.model_copy(update={"SECRETS_OLD_KEYS": []}))
        async with session_factory() as session:
            row = await session.scalar(select(Webhook))
        assert row is not None and row.previous_secret_sealed is not None
        where = secret_binding(row.id)
        assert only_new.open(row.secret_sealed, where) == secret
        assert only_new.open(row.previous_secret_sealed, where) == "whsec_previous"
