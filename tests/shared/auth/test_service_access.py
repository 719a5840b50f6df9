"""A service built only from the shared library: PATs through admin's introspection, project
roles from admin, both cached for at most 60 s; X-Project-ID handling; admin being down."""

from __future__ import annotations

import socket
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from nfhub_shared.config import BaseServiceSettings
from support.clock import FakeClock

PROBLEM_JSON = "application/problem+json"
ROLE = "/api/v1/probe/role"
EDIT = "/api/v1/probe/edit"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def pat_headers(pat: str, project_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {pat}", "X-Project-ID": str(project_id)}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class TestCacheTtlSettings:
    def test_default_is_sixty_seconds(self) -> None:
        settings = BaseServiceSettings(_env_file=None)
        assert settings.TOKEN_CACHE_TTL_SECONDS == 60
        assert settings.ROLE_CACHE_TTL_SECONDS == 60

    def test_above_sixty_seconds_is_refused(self) -> None:
        for name in ("TOKEN_CACHE_TTL_SECONDS", "ROLE_CACHE_TTL_SECONDS"):
            with pytest.raises(ValidationError, match=name):
                BaseServiceSettings(_env_file=None, **{name: 60.5})
            assert getattr(BaseServiceSettings(_env_file=None, **{name: 60}), name) == 60


class TestPersonalAccessTokenAtService:
    async def test_pat_is_resolved_through_admin_introspection(self, make_probe, factory) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        _, pat = await factory.personal_access_token(actor, scopes=["projects:read"])
        assert pat.startswith("nfh_pat_")
        async with make_probe() as probe:
            response = await probe.client.get(ROLE, headers=pat_headers(pat, project_id))
            assert response.status_code == 200, response.text
            assert response.json() == {"role": "admin", "subject": str(actor.id), "kind": "pat"}
            assert probe.introspections == 1
            again = await probe.client.get(ROLE, headers=pat_headers(pat, project_id))
            assert again.status_code == 200
            assert probe.introspections == 1  # answered from the cache

    async def test_revoked_pat_works_until_the_sixty_second_ttl_then_is_refused(
        self, make_probe, factory, admin_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        token_id, pat = await factory.personal_access_token(actor)
        async with make_probe() as probe:  # default settings: the 60 s bound itself
            assert probe.settings.TOKEN_CACHE_TTL_SECONDS == 60
            assert (await probe.client.get(ROLE, headers=pat_headers(pat, project_id))).is_success

            revoked = await admin_client.delete(f"/api/v1/tokens/{token_id}", headers=actor.headers)
            assert revoked.status_code == 204, revoked.text
            at_admin = await admin_client.get(
                "/api/v1/users/me", headers={"Authorization": f"Bearer {pat}"}
            )
            assert at_admin.status_code == 401  # admin itself refuses it at once

            clock.at(59.9)
            cached = await probe.client.get(ROLE, headers=pat_headers(pat, project_id))
            assert cached.status_code == 200, cached.text
            assert probe.introspections == 1

            clock.at(60)
            refused = await probe.client.get(ROLE, headers=pat_headers(pat, project_id))
            body = assert_problem(refused, 401)
            assert "revoked" in body["detail"]
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert probe.introspections == 2

    async def test_revoked_pat_is_refused_after_a_short_configured_ttl(
        self, make_probe, factory, admin_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        token_id, pat = await factory.personal_access_token(actor)
        async with make_probe(TOKEN_CACHE_TTL_SECONDS=1) as probe:
            assert (await probe.client.get(ROLE, headers=pat_headers(pat, project_id))).is_success
            revoked = await admin_client.delete(f"/api/v1/tokens/{token_id}", headers=actor.headers)
            assert revoked.status_code == 204
            clock.at(1.05)
            refused = await probe.client.get(ROLE, headers=pat_headers(pat, project_id))
            assert_problem(refused, 401)


async def project_with_member(factory: Any, role: str) -> tuple[Any, Any, uuid.UUID]:
    """An owner's project and a second user in it with ``role``."""
    owner = await factory.user()
    member = await factory.user()
    project_id = await factory.project(await factory.org(owner), members={member: role})
    return owner, member, project_id


def membership_url(project_id: uuid.UUID, member: Any) -> str:
    return f"/api/v1/projects/{project_id}/members/{member.id}"


class TestRemovedMemberAtService:
    async def test_removed_member_keeps_access_until_the_sixty_second_ttl_then_gets_404(
        self, make_probe, factory, admin_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        owner, member, project_id = await project_with_member(factory, "editor")
        async with make_probe() as probe:
            assert probe.settings.ROLE_CACHE_TTL_SECONDS == 60
            before = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert before.status_code == 200, before.text
            assert before.json()["role"] == "editor"

            removed = await admin_client.delete(
                membership_url(project_id, member), headers=owner.headers
            )
            assert removed.status_code == 204, removed.text

            clock.at(59.9)
            cached = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert cached.status_code == 200, cached.text

            clock.at(60)
            after = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert str(project_id) in assert_problem(after, 404)["detail"]
            # The owner, whose role did not change, still gets in.
            owner_view = await probe.client.get(ROLE, headers=owner.in_project(project_id))
            assert owner_view.json()["role"] == "admin"

    async def test_a_downgraded_editor_loses_the_editor_route_when_the_role_expires(
        self, make_probe, factory, admin_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        """The checked-access memo of the role dependency must not outlive the role cache."""
        owner, member, project_id = await project_with_member(factory, "editor")
        async with make_probe() as probe:
            for _ in range(2):  # the second answer comes from the memo
                allowed = await probe.client.post(EDIT, headers=member.in_project(project_id))
                assert allowed.status_code == 200, allowed.text

            downgraded = await admin_client.patch(
                membership_url(project_id, member),
                json={"role": "viewer"},
                headers=owner.headers,
            )
            assert downgraded.status_code == 200, downgraded.text

            clock.at(59.9)
            cached = await probe.client.post(EDIT, headers=member.in_project(project_id))
            assert cached.status_code == 200, cached.text

            clock.at(60)
            refused = await probe.client.post(EDIT, headers=member.in_project(project_id))
            assert "editor" in assert_problem(refused, 403)["detail"]
            viewer = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert viewer.json()["role"] == "viewer"

    async def test_removed_member_gets_404_after_a_short_configured_ttl(
        self, make_probe, factory, admin_client: httpx.AsyncClient, clock: FakeClock
    ) -> None:
        owner, member, project_id = await project_with_member(factory, "viewer")
        async with make_probe(ROLE_CACHE_TTL_SECONDS=1) as probe:
            before = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert before.status_code == 200, before.text
            removed = await admin_client.delete(
                membership_url(project_id, member), headers=owner.headers
            )
            assert removed.status_code == 204, removed.text
            clock.at(1.05)
            after = await probe.client.get(ROLE, headers=member.in_project(project_id))
            assert_problem(after, 404)


class FlakyAdmin(httpx.AsyncBaseTransport):
    """admin over HTTP-on-ASGI until ``down`` is set, then connection refused."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("Connection refused", request=request)
        return await self.inner.handle_async_request(request)


class TestAdminUnreachable:
    async def test_jwt_and_pat_answer_503_when_admin_cannot_be_reached(
        self, make_probe, factory
    ) -> None:
        actor = await factory.user()
        project_id = await factory.project(await factory.org(actor))
        _, pat = await factory.personal_access_token(actor)
        async with make_probe(
            ADMIN_URL=f"http://127.0.0.1:{closed_port()}", transport=httpx.AsyncHTTPTransport()
        ) as probe:
            for headers in (actor.in_project(project_id), pat_headers(pat, project_id)):
                response = await probe.client.get(ROLE, headers=headers)
                body = assert_problem(response, 503)
                assert body["type"].endswith("/service-unavailable")
                assert "admin" in body["detail"] or "identity service" in body["detail"]

    async def test_project_check_answers_503_when_admin_goes_down_after_keys_are_cached(
        self, make_probe, factory, admin_transport: httpx.ASGITransport
    ) -> None:
        actor = await factory.user()
        org_id = await factory.org(actor)
        first, second = await factory.project(org_id), await factory.project(org_id)
        admin = FlakyAdmin(admin_transport)
        async with make_probe(transport=admin) as probe:
            assert (await probe.client.get(ROLE, headers=actor.in_project(first))).is_success
            admin.down = True
            # The JWT still verifies against the cached keys; the role lookup cannot be made.
            response = await probe.client.get(ROLE, headers=actor.in_project(second))
            assert_problem(response, 503)


class TestProjectHeader:
    async def test_missing_project_header_is_400(self, probe, factory) -> None:
        actor = await factory.user()
        body = assert_problem(await probe.client.get(ROLE, headers=actor.headers), 400)
        assert "X-Project-ID" in body["detail"]

    async def test_malformed_project_header_is_400(self, probe, factory) -> None:
        actor = await factory.user()
        for value in ("not-a-uuid", "1234", "' OR 1=1 --", " "):
            response = await probe.client.get(
                ROLE, headers={**actor.headers, "X-Project-ID": value}
            )
            assert_problem(response, 400)

    async def test_project_of_another_org_is_404_like_an_unknown_one(self, probe, factory) -> None:
        actor = await factory.user()
        stranger = await factory.user()
        foreign = await factory.project(await factory.org(stranger))
        unknown = uuid.uuid4()
        bodies = []
        for project_id in (foreign, unknown):
            response = await probe.client.get(ROLE, headers=actor.in_project(project_id))
            bodies.append(assert_problem(response, 404))
        assert bodies[0]["detail"].replace(str(foreign), "?") == bodies[1]["detail"].replace(
            str(unknown), "?"
        )
        assert (await probe.client.get(ROLE, headers=stranger.in_project(foreign))).is_success


class TestProjectRoles:
    async def test_viewer_on_an_editor_route_is_403(self, probe, factory) -> None:
        owner = await factory.user()
        viewer = await factory.user()
        project_id = await factory.project(await factory.org(owner), members={viewer: "viewer"})
        assert (await probe.client.get(ROLE, headers=viewer.in_project(project_id))).is_success
        response = await probe.client.post(EDIT, headers=viewer.in_project(project_id))
        body = assert_problem(response, 403)
        assert "editor" in body["detail"]

    async def test_editor_and_org_owner_pass_the_editor_route(self, probe, factory) -> None:
        owner = await factory.user()
        editor = await factory.user()
        project_id = await factory.project(await factory.org(owner), members={editor: "editor"})
        for actor, role in ((editor, "editor"), (owner, "admin")):
            response = await probe.client.post(EDIT, headers=actor.in_project(project_id))
            assert response.status_code == 200, response.text
            assert response.json() == {"role": role}
