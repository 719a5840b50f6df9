"""Bad input anywhere in admin answers a problem+json that names what to fix, never a 500.

The cases run against orgs, projects, users and tokens alike; the request plumbing they test
(validation rendering, body limits, API versions, paging, request ids) is shared.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def ids(factory: Any) -> dict[str, Any]:
    """A caller who administers an org and its project, and the ids to fill paths with."""
    alice = await factory.user("alice")
    org_id = await factory.org(alice)
    project_id = await factory.project(org_id)
    return {"actor": alice, "org": org_id, "project": project_id, "user": alice.id}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    assert body["error_id"]
    return body


# (method, path under /api/v1, body, "location.field …" the errors must list, exactly)
VALIDATION_CASES = [
    ("POST", "/orgs", {}, "body.slug body.name"),
    ("POST", "/orgs", {"slug": 5, "name": ["x"]}, "body.slug body.name"),
    ("POST", "/orgs", {"slug": "No Spaces!", "name": ""}, "body.slug body.name"),
    ("POST", "/orgs", {"slug": "ok", "name": "Ok", "owner": "x"}, "body.owner"),
    ("PATCH", "/orgs/{org}", {"name": 7, "colour": "red"}, "body.name body.colour"),
    ("PATCH", "/orgs/{org}", {"name": None}, "body.name"),
    ("POST", "/orgs/{org}/members", {"username": "x", "role": "god"}, "body.role"),
    ("POST", "/orgs/{org}/members", {"user_id": "nope"}, "body.user_id"),
    ("PATCH", "/orgs/{org}/members/{user}", {}, "body.role"),
    ("PATCH", "/orgs/{org}/members/{user}", {"role": "superuser"}, "body.role"),
    ("POST", "/projects", {"org_id": 123, "slug": "x", "name": "x"}, "body.org_id"),
    ("POST", "/projects", {"slug": "x", "name": "x"}, "body.org_id"),
    ("PATCH", "/projects/{project}", {"name": None, "extra": 1}, "body.name body.extra"),
    ("POST", "/projects/{project}/members", {"username": "x", "role": "owner"}, "body.role"),
    ("PUT", "/users/me/default-context", {"org_id": 123}, "body.org_id"),
    ("POST", "/users", {"username": "x", "org_id": "{org}"}, "body.username"),
    ("POST", "/users", {"username": "erin", "email": "nope", "org_id": "{org}"}, "body.email"),
    ("POST", "/users", {"username": "erin", "org_id": "{org}", "is_admin": True}, "body.is_admin"),
    ("POST", "/tokens", {"name": "", "expires_in_days": 0}, "body.name body.expires_in_days"),
    ("POST", "/tokens", {"name": "x", "expires_in_days": "soon"}, "body.expires_in_days"),
    ("POST", "/tokens", {"name": "x", "scopes": "users:read"}, "body.scopes"),
    ("GET", "/orgs/not-a-uuid", None, "path.org_id"),
    ("DELETE", "/orgs/{org}/members/42", None, "path.user_id"),
    ("GET", "/projects/xyz/credentials", None, "path.project_id"),
    ("PATCH", "/projects/xyz", {"name": "x"}, "path.project_id"),
    ("DELETE", "/tokens/123", None, "path.token_id"),
    ("GET", "/projects?org_id=acme", None, "query.org_id"),
    ("GET", "/tokens?include_revoked=maybe", None, "query.include_revoked"),
    ("GET", "/audit-events", None, "query.org_id"),
    ("GET", "/audit-events?org_id={org}&occurred_after=yesterday", None, "query.occurred_after"),
]  # fmt: skip


class TestValidation:
    @pytest.mark.parametrize(
        ("method", "path", "body", "fields"),
        VALIDATION_CASES,
        ids=[f"{m} {p} {f}" for m, p, _, f in VALIDATION_CASES],
    )
    async def test_lists_every_bad_field(
        self,
        admin_client: httpx.AsyncClient,
        ids: dict[str, Any],
        method: str,
        path: str,
        body: dict[str, Any] | None,
        fields: str,
    ) -> None:
        def fill(text: str) -> str:
            return text.format(**{k: v for k, v in ids.items() if k != "actor"})

        if body is not None:
            body = {k: fill(v) if isinstance(v, str) else v for k, v in body.items()}

        response = await admin_client.request(
            method, "/api/v1" + fill(path), json=body, headers=ids["actor"].headers
        )

        errors = problem(response, 422)["errors"]
        assert {f"{e['location']}.{e['field']}" for e in errors} == set(fields.split())
        assert all(e["message"] and e["type"] for e in errors)
        for field in fields.split():
            assert field in response.json()["detail"]

    async def test_member_add_needs_exactly_one_identifier(
        self, admin_client: httpx.AsyncClient, ids: dict[str, Any]
    ) -> None:
        response = await admin_client.post(
            f"/api/v1/orgs/{ids['org']}/members",
            json={"user_id": str(uuid.uuid4()), "username": "bob"},
            headers=ids["actor"].headers,
        )

        errors = problem(response, 422)["errors"]
        assert "exactly one of user_id or username" in errors[0]["message"]

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("PATCH", "/api/v1/orgs/{org}", {"name": "a\u0000b"}),
            ("PATCH", "/api/v1/projects/{project}", {"description": "a\u0000b"}),
            ("POST", "/api/v1/tokens", {"name": "nul\u0000"}),
            ("POST", "/api/v1/auth/login", {"username": "alice\u0000", "password": "x"}),
            ("GET", "/api/v1/audit-events?org_id={org}&action=a%00b", None),
        ],
        ids=["org name", "project description", "token name", "login", "query"],
    )
    async def test_nul_characters_are_422_not_500(
        self,
        admin_client: httpx.AsyncClient,
        ids: dict[str, Any],
        method: str,
        path: str,
        body: dict[str, Any] | None,
    ) -> None:
        url = path.format(org=ids["org"], project=ids["project"])

        response = await admin_client.request(method, url, json=body, headers=ids["actor"].headers)

        assert "\\u0000" in problem(response, 422)["detail"]

    @pytest.mark.parametrize(
        "moment",
        ["0001-01-01T00:02:18+13:38", "9999-12-31T23:59:00-05:00"],
        ids=["before year 1 in UTC", "after 9999 in UTC"],
    )
    async def test_a_date_outside_what_postgres_stores_is_422_not_500(
        self, admin_client: httpx.AsyncClient, ids: dict[str, Any], moment: str
    ) -> None:
        # Found by schemathesis: valid ISO 8601, yet a year 0 or 10000 once in UTC.
        response = await admin_client.get(
            "/api/v1/audit-events",
            params={"org_id": ids["org"], "occurred_after": moment},
            headers=ids["actor"].headers,
        )

        assert "outside what can be stored" in problem(response, 422)["detail"]


class TestRequestBody:
    @pytest.mark.parametrize(
        ("content", "content_type", "status"),
        [
            (b'{"slug": "acme", "name": ', "application/json", 422),
            (b"\xff\xfe\x00", "application/json", 400),
            (b"", "application/json", 422),
            (b"[]", "application/json", 422),
            (b'"acme"', "application/json", 422),
            (b'{"slug": "acme", "name": "Acme"}', "text/plain", 422),
            (b"slug=acme&name=Acme", "application/x-www-form-urlencoded", 422),
            (b"[" * 50_000 + b"]" * 50_000, "application/json", 400),
        ],
        ids=["truncated", "not utf-8", "empty", "array", "string", "text", "form", "deep"],
    )
    async def test_unparseable_body_is_a_problem_not_a_500(
        self,
        admin_client: httpx.AsyncClient,
        factory: Any,
        content: bytes,
        content_type: str,
        status: int,
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.post(
            "/api/v1/orgs",
            content=content,
            headers={**alice.headers, "Content-Type": content_type},
        )

        problem(response, status)

    async def test_two_mib_body_is_413(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")
        body = {"slug": "acme", "name": "Acme", "description": "x" * (2 * 1024 * 1024)}

        response = await admin_client.post("/api/v1/orgs", json=body, headers=alice.headers)

        assert "bytes" in problem(response, 413)["detail"]

    async def test_streamed_body_over_the_limit_is_413(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"slug": "acme", "name": "Acme", "description": "'
            for _ in range(32):
                yield b"x" * 65_536
            yield b'"}'

        # No Content-Length: the limit has to be enforced while reading.
        response = await admin_client.post(
            "/api/v1/orgs",
            content=chunks(),
            headers={**alice.headers, "Content-Type": "application/json"},
        )

        problem(response, 413)


class TestApiVersion:
    @pytest.mark.parametrize("version", ["1", " 1 "])
    async def test_version_1_is_served(
        self, admin_client: httpx.AsyncClient, factory: Any, version: str
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get(
            "/api/v1/users/me", headers={**alice.headers, "Accept-Version": version}
        )

        assert response.status_code == 200, response.text

    @pytest.mark.parametrize("version", ["2", "0", "v1", "1.1", ""])
    async def test_other_versions_are_400(
        self, admin_client: httpx.AsyncClient, factory: Any, version: str
    ) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get(
            "/api/v1/users/me", headers={**alice.headers, "Accept-Version": version}
        )

        assert "version 1" in problem(response, 400)["detail"]


class TestPaging:
    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"limit": 0}, "limit"),
            ({"limit": 501}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"offset": -1}, "offset"),
        ],
    )
    @pytest.mark.parametrize(
        "path", ["/api/v1/orgs", "/api/v1/projects", "/api/v1/tokens", "/api/v1/orgs/{org}/members"]
    )
    async def test_out_of_range_is_422(
        self,
        admin_client: httpx.AsyncClient,
        ids: dict[str, Any],
        path: str,
        params: dict[str, Any],
        field: str,
    ) -> None:
        response = await admin_client.get(
            path.format(org=ids["org"]), params=params, headers=ids["actor"].headers
        )

        errors = problem(response, 422)["errors"]
        assert [(e["location"], e["field"]) for e in errors] == [("query", field)]

    async def test_pages_with_link_header(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        for slug in ("org-a", "org-b", "org-c"):
            await factory.org(alice, slug=slug)

        first = await admin_client.get("/api/v1/orgs", params={"limit": 2}, headers=alice.headers)
        last = await admin_client.get(
            "/api/v1/orgs", params={"limit": 2, "offset": 2}, headers=alice.headers
        )

        assert first.status_code == 200, first.text
        body = first.json()
        assert set(body) == {"items", "count", "limit", "offset"}
        assert (body["count"], body["limit"], body["offset"]) == (3, 2, 0)
        assert [o["slug"] for o in body["items"]] == ["org-a", "org-b"]
        links = first.links
        assert "offset=2" in links["next"]["url"]
        assert "limit=2" in links["next"]["url"]
        assert "prev" not in links
        assert first.headers["x-total-count"] == "3"
        assert [o["slug"] for o in last.json()["items"]] == ["org-c"]
        assert "next" not in last.links
        assert "offset=0" in last.links["prev"]["url"]

    async def test_defaults(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get("/api/v1/tokens", headers=alice.headers)

        assert response.json() == {"items": [], "count": 0, "limit": 50, "offset": 0}
        assert "next" not in response.links


class TestRequestId:
    async def test_given_id_is_echoed(self, admin_client: httpx.AsyncClient, factory: Any) -> None:
        alice = await factory.user("alice")

        response = await admin_client.get(
            "/api/v1/users/me", headers={**alice.headers, "X-Request-ID": "trace-42.a:b"}
        )

        assert response.headers["x-request-id"] == "trace-42.a:b"

    @pytest.mark.parametrize("given", [None, "has spaces", "x" * 200, "<script>"])
    async def test_missing_or_unsafe_id_is_replaced(
        self, admin_client: httpx.AsyncClient, factory: Any, given: str | None
    ) -> None:
        alice = await factory.user("alice")
        headers = alice.headers if given is None else {**alice.headers, "X-Request-ID": given}

        response = await admin_client.get("/api/v1/users/me", headers=headers)

        generated = response.headers["x-request-id"]
        assert generated != given
        assert len(generated) == 32
        int(generated, 16)

    async def test_problems_carry_the_id_too(self, admin_client: httpx.AsyncClient) -> None:
        response = await admin_client.get(
            "/api/v1/users/me", headers={"X-Request-ID": "req-401", "Accept-Version": "9"}
        )

        problem(response, 400)
        assert response.headers["x-request-id"] == "req-401"
