"""Pipeline secrets over the API: who may set which, what the answers show (never a value),
bad input, other orgs' and projects' secrets, and a run naming its secrets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.models import PipelineSecret, audit_events
from support.inprocess import Team

PROBLEM_JSON = "application/problem+json"
VALUE = "hunter2-do-not-show"


@dataclass(frozen=True)
class Org:
    """The team's org with an org admin, and a project of another org with its admin."""

    org_admin: Any
    stranger: Any
    stranger_project: uuid.UUID


@pytest_asyncio.fixture
async def org(factory: Any, team: Team) -> Org:
    org_admin = await factory.user()
    await factory.join_org(team.org_id, org_admin, "admin")
    stranger = await factory.user()
    other_org = await factory.org(stranger)
    stranger_project = await factory.project(other_org, members={stranger: "admin"})
    return Org(org_admin, stranger, stranger_project)


def headers(team: Team, org: Org, who: str) -> dict[str, str]:
    if who == "org_admin":
        return dict(org.org_admin.in_project(team.project_id))
    return team.headers(who)


async def put(
    client: httpx.AsyncClient, hdrs: dict[str, str], name: str, value: str, scope: str = "project"
) -> httpx.Response:
    return await client.put(
        f"/api/v1/secrets/{name}", params={"scope": scope}, json={"value": value}, headers=hdrs
    )


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


class TestCreateSecret:
    @pytest.mark.parametrize(
        ("who", "scope", "expected"),
        [
            ("admin", "project", 201),
            ("org_admin", "project", 201),
            ("org_admin", "org", 201),
            ("admin", "org", 403),  # a project admin who is a plain org member
            ("editor", "project", 403),
            ("viewer", "project", 403),
            ("editor", "org", 403),
        ],
    )
    async def test_who_may_set_which_scope(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        org: Org,
        who: str,
        scope: str,
        expected: int,
    ) -> None:
        response = await compute_client.post(
            "/api/v1/secrets",
            json={"name": "API_KEY", "value": VALUE, "scope": scope},
            headers=headers(team, org, who),
        )

        assert response.status_code == expected, response.text
        assert VALUE not in response.text
        if expected == 201:
            body = response.json()
            assert set(body) == {
                "id", "name", "scope", "created_at", "updated_at", "created_by", "updated_by",
                "overridden",
            }  # fmt: skip
            assert (body["name"], body["scope"]) == ("API_KEY", scope)
            assert response.headers["location"].endswith(f"/api/v1/secrets/API_KEY?scope={scope}")
        else:
            assert response.headers["content-type"] == PROBLEM_JSON

    async def test_a_name_is_taken_once_per_scope(
        self, compute_client: httpx.AsyncClient, team: Team, org: Org
    ) -> None:
        hdrs = headers(team, org, "org_admin")
        body = {"name": "API_KEY", "value": VALUE}
        first = await compute_client.post("/api/v1/secrets", json=body, headers=hdrs)
        again = await compute_client.post("/api/v1/secrets", json=body, headers=hdrs)
        org_one = await compute_client.post(
            "/api/v1/secrets", json={**body, "scope": "org"}, headers=hdrs
        )

        assert (first.status_code, again.status_code, org_one.status_code) == (201, 409, 201)
        assert "PUT /secrets/API_KEY?scope=project" in again.json()["detail"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "1ABC", "value": "v"}, "name"),
            ({"name": "A__B", "value": "v"}, "name"),
            ({"name": "__AB", "value": "v"}, "name"),
            ({"name": "A", "value": "v"}, "name"),
            ({"name": "A-B", "value": "v"}, "name"),
            ({"name": "A B", "value": "v"}, "name"),
            ({"name": "A" * 101, "value": "v"}, "name"),
            ({"name": 12, "value": "v"}, "name"),
            ({"value": "v"}, "name"),
            ({"name": "AB"}, "value"),
            ({"name": "AB", "value": ""}, "value"),
            ({"name": "AB", "value": 42}, "value"),
            ({"name": "AB", "value": "abc\x00def"}, "value"),
            ({"name": "AB", "value": "x" * (64 * 1024 + 1)}, "value"),
            ({"name": "AB", "value": "v", "scope": "global"}, "scope"),
            ({"name": "AB", "value": "v", "extra": 1}, "extra"),
        ],
    )
    async def test_bad_input_is_a_422_naming_the_field(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        body: dict[str, Any],
        field: str,
    ) -> None:
        response = await compute_client.post(
            "/api/v1/secrets", json=body, headers=team.headers("admin")
        )

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert fields(response) == [field]
        value = body.get("value")
        if isinstance(value, str) and len(value) > 2:
            assert value not in response.text  # a refused value is not echoed either

    async def test_valid_names_follow_nextflows_rule(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        names = ["ab", "_a", "A_", "a_b_c", "NCBI_API_KEY", "x" * 100, "_1"]
        codes = [
            (
                await compute_client.post(
                    "/api/v1/secrets", json={"name": n, "value": "v"}, headers=team.headers("admin")
                )
            ).status_code
            for n in names
        ]

        assert codes == [201] * len(names)

    async def test_the_value_is_stored_encrypted_and_audited_without_it(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await put(compute_client, team.headers("admin"), "API_KEY", VALUE)
        assert response.status_code == 201, response.text

        async with session_factory() as session:
            row = await session.scalar(
                select(PipelineSecret).where(PipelineSecret.name == "API_KEY")
            )
            audits = (
                await session.execute(
                    select(audit_events.c.action, text("details::text")).where(
                        audit_events.c.resource_type == "secret"
                    )
                )
            ).all()
        assert row is not None and row.sealed_value.startswith("v1.")
        assert VALUE not in row.sealed_value
        assert audits and all(VALUE not in details for _, details in audits)
        assert [action for action, _ in audits] == ["secret.create"]


class TestListAndGetSecrets:
    async def test_members_see_names_org_and_project_with_the_override_marked(
        self, compute_client: httpx.AsyncClient, team: Team, org: Org
    ) -> None:
        org_hdrs = headers(team, org, "org_admin")
        for name, scope in (("SHARED", "org"), ("ONLY_ORG", "org"), ("SHARED", "project")):
            assert (await put(compute_client, org_hdrs, name, VALUE, scope)).status_code == 201
        await put(
            compute_client, dict(org.stranger.in_project(org.stranger_project)), "OTHER", VALUE
        )

        response = await compute_client.get("/api/v1/secrets", headers=team.headers("viewer"))
        only_org = await compute_client.get(
            "/api/v1/secrets", params={"scope": "org"}, headers=team.headers("viewer")
        )

        assert response.status_code == 200, response.text
        assert VALUE not in response.text
        items = [(i["name"], i["scope"], i["overridden"]) for i in response.json()["items"]]
        assert items == [
            ("ONLY_ORG", "org", False), ("SHARED", "project", False), ("SHARED", "org", True),
        ]  # fmt: skip
        assert response.json()["count"] == 3
        assert [(i["name"], i["scope"]) for i in only_org.json()["items"]] == [
            ("ONLY_ORG", "org"), ("SHARED", "org"),
        ]  # fmt: skip

    async def test_get_names_the_scope_and_another_projects_secret_is_404(
        self, compute_client: httpx.AsyncClient, team: Team, org: Org
    ) -> None:
        await put(
            compute_client, dict(org.stranger.in_project(org.stranger_project)), "OTHER", VALUE
        )
        await put(compute_client, team.headers("admin"), "MINE", VALUE)

        mine = await compute_client.get("/api/v1/secrets/MINE", headers=team.headers("viewer"))
        as_org = await compute_client.get(
            "/api/v1/secrets/MINE", params={"scope": "org"}, headers=team.headers("viewer")
        )
        other = await compute_client.get("/api/v1/secrets/OTHER", headers=team.headers("viewer"))
        bad = await compute_client.get("/api/v1/secrets/1BAD", headers=team.headers("viewer"))

        assert mine.status_code == 200 and mine.json()["created_by"] == str(team.admin.id)
        assert VALUE not in mine.text
        assert (as_org.status_code, other.status_code, bad.status_code) == (404, 404, 422)

    @pytest.mark.parametrize(
        ("project_header", "expected"),
        [
            (None, 400),
            ("not-a-uuid", 400),
            ("stranger", 404),
            ("00000000-0000-4000-8000-000000000001", 404),
        ],
    )
    async def test_the_project_must_be_one_the_caller_sees(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        org: Org,
        project_header: str | None,
        expected: int,
    ) -> None:
        hdrs = dict(team.admin.headers)
        if project_header is not None:
            hdrs["X-Project-ID"] = (
                str(org.stranger_project) if project_header == "stranger" else project_header
            )

        listed = await compute_client.get("/api/v1/secrets", headers=hdrs)
        written = await put(compute_client, hdrs, "AB", VALUE)

        assert (listed.status_code, written.status_code) == (expected, expected)


class TestPutAndDeleteSecret:
    async def test_put_creates_then_replaces_the_value(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        org: Org,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        created = await put(compute_client, team.headers("admin"), "TOKEN", "first")
        async with session_factory() as session:
            before = await session.scalar(select(PipelineSecret.sealed_value))
        replaced = await put(compute_client, headers(team, org, "org_admin"), "TOKEN", "second")
        async with session_factory() as session:
            after = await session.scalar(select(PipelineSecret.sealed_value))

        assert (created.status_code, replaced.status_code) == (201, 200)
        assert replaced.json()["id"] == created.json()["id"]
        assert replaced.json()["created_by"] == str(team.admin.id)
        assert replaced.json()["updated_by"] == str(org.org_admin.id)
        assert before != after

    @pytest.mark.parametrize(
        ("who", "scope", "expected"),
        [
            ("org_admin", "org", 204),
            ("admin", "org", 403),
            ("admin", "project", 204),
            ("editor", "project", 403),
            ("viewer", "project", 403),
        ],
    )
    async def test_who_may_delete(
        self,
        compute_client: httpx.AsyncClient,
        team: Team,
        org: Org,
        who: str,
        scope: str,
        expected: int,
    ) -> None:
        await put(compute_client, headers(team, org, "org_admin"), "GONE", VALUE, scope)

        response = await compute_client.delete(
            "/api/v1/secrets/GONE", params={"scope": scope}, headers=headers(team, org, who)
        )
        again = await compute_client.delete(
            "/api/v1/secrets/GONE", params={"scope": scope}, headers=headers(team, org, who)
        )

        assert response.status_code == expected, response.text
        assert again.status_code == (404 if expected == 204 else expected)

    async def test_deleting_a_missing_secret_is_404_saying_where(
        self, compute_client: httpx.AsyncClient, team: Team
    ) -> None:
        response = await compute_client.delete(
            "/api/v1/secrets/NOPE", headers=team.headers("admin")
        )

        assert response.status_code == 404
        assert "No project secret NOPE" in response.json()["detail"]


class TestRunsNameTheirSecrets:
    async def test_a_run_records_the_names_it_needs(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Team, org: Org
    ) -> None:
        await put(compute_client, headers(team, org, "org_admin"), "ORG_KEY", VALUE, "org")
        await put(compute_client, team.headers("admin"), "PROJECT_KEY", VALUE)

        response = await launch(secrets=["PROJECT_KEY", "ORG_KEY", "PROJECT_KEY"])
        relaunched = await compute_client.post(
            f"/api/v1/runs/{response.json()['id']}/relaunch",
            json={},
            headers=team.headers("editor"),
        )

        assert response.status_code == 201, response.text
        assert response.json()["secrets"] == ["PROJECT_KEY", "ORG_KEY"]
        assert relaunched.status_code == 201, relaunched.text
        assert relaunched.json()["secrets"] == ["PROJECT_KEY", "ORG_KEY"]
        assert VALUE not in response.text + relaunched.text

    async def test_an_unknown_name_is_a_422_naming_it(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Team, org: Org
    ) -> None:
        await put(compute_client, team.headers("admin"), "KNOWN", VALUE)
        # Another org's secret of that name is no help.
        await put(
            compute_client, dict(org.stranger.in_project(org.stranger_project)), "THEIRS", VALUE
        )

        response = await launch(secrets=["KNOWN", "MISSING", "THEIRS"])

        assert response.status_code == 422, response.text
        assert fields(response) == ["secrets.1", "secrets.2"]
        assert "MISSING, THEIRS" in response.json()["detail"]

    @pytest.mark.parametrize("secrets", [["1BAD"], "KEY", [1], ["OK"] * 51])
    async def test_bad_secret_lists_are_refused(
        self, hello: Any, launch: Any, secrets: Any
    ) -> None:
        response = await launch(secrets=secrets)

        assert response.status_code == 422, response.text
        assert all(field.startswith("secrets") for field in fields(response))

    async def test_a_relaunch_checks_the_secrets_still_exist(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Team
    ) -> None:
        await put(compute_client, team.headers("admin"), "KEY", VALUE)
        run = (await launch(secrets=["KEY"])).json()
        await compute_client.delete("/api/v1/secrets/KEY", headers=team.headers("admin"))

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={}, headers=team.headers("editor")
        )
        without = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch",
            json={"secrets": []},
            headers=team.headers("editor"),
        )

        assert response.status_code == 422 and fields(response) == ["secrets.0"]
        assert without.status_code == 201 and without.json()["secrets"] == []
