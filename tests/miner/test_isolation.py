"""Another project's subjects, samples and orders are invisible on every miner route.

The table names every operation of the miner API (checked against the live OpenAPI). Each is
called with the ids of a project the caller has no role in, from the caller's own project
(another org's, and one of the same org) and naming the foreign project: every call answers
404 (a body reference: 422), lists show none of it, and nothing changes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from support.inprocess import Team
from support.miner_app import MINER_BASE_URL, miner_settings_for, running_miner_app
from support.module_setup import (
    admin_app,
    admin_transport,
    compute_app,
    compute_client,
    each_test_rolled_back,
    factory,
    files_app,
    module_connection,
    module_sessions,
    outsiders,
    register_hello,
    storage_root,
    team,
)

__all__ = [
    "admin_app",
    "admin_transport",
    "compute_app",
    "compute_client",
    "each_test_rolled_back",
    "factory",
    "files_app",
    "module_connection",
    "module_sessions",
    "outsiders",
    "storage_root",
    "team",
]

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: Any = None
    kind: str = "id"  # "id": names a victim's id; "ref": a body names it; "list": a collection
    content: bytes | None = None


ROUTES: list[Route] = [
    Route("GET", "/api/v1/subjects", kind="list"),
    Route("POST", "/api/v1/subjects", {"display_id": "P1"}, kind="list"),
    Route("GET", "/api/v1/subjects/{subject_id}"),
    Route("PATCH", "/api/v1/subjects/{subject_id}", {"diagnosis": "taken over"}),
    Route("DELETE", "/api/v1/subjects/{subject_id}"),
    Route("GET", "/api/v1/samples", kind="list"),
    Route("POST", "/api/v1/samples", {"display_id": "S9", "subject_id": "{subject_id}"}, "ref"),
    Route("POST", "/api/v1/samples/import", kind="list", content=b"sample\nS1\n"),
    Route("GET", "/api/v1/samples/{sample_id}"),
    Route("PATCH", "/api/v1/samples/{sample_id}", {"tissue": "taken over"}),
    Route("DELETE", "/api/v1/samples/{sample_id}"),
    Route("GET", "/api/v1/samples/{sample_id}/sampleinfo"),
    Route("GET", "/api/v1/orders", kind="list"),
    Route(
        "POST",
        "/api/v1/orders",
        {"display_id": "O9", "pipeline": "hello", "samples": [{"sample_id": "{sample_id}"}]},
        "ref",
    ),
    Route("GET", "/api/v1/orders/{order_id}"),
    Route("PUT", "/api/v1/orders/{order_id}", {"display_id": "ORD-1", "pipeline": "hello"}),
    Route("DELETE", "/api/v1/orders/{order_id}"),
    Route("GET", "/api/v1/orders/{order_id}/samples"),
    Route("POST", "/api/v1/orders/{order_id}/samples", {"samples": [{"sample_id": "{sample_id}"}]}),
    Route("DELETE", "/api/v1/orders/{order_id}/samples/{sample_id}"),
    Route("POST", "/api/v1/orders/{order_id}/transition", {"to": "cancelled"}),
    Route("GET", "/api/v1/orders/{order_id}/history"),
    Route("GET", "/api/v1/orders/{order_id}/samplesheet"),
    Route("GET", "/api/v1/webhooks", kind="list"),
    Route(
        "POST",
        "/api/v1/webhooks",
        {"url": "https://lims.example.org/h", "events": ["order.transitioned"]},
        kind="list",
    ),
    Route("GET", "/api/v1/webhooks/{webhook_id}"),
    Route("PATCH", "/api/v1/webhooks/{webhook_id}", {"enabled": False}),
    Route("DELETE", "/api/v1/webhooks/{webhook_id}"),
    Route("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"),
    Route("POST", "/api/v1/webhooks/{webhook_id}/test"),
    Route("GET", "/api/v1/webhooks/{webhook_id}/deliveries"),
]
NOT_PROJECT_ROUTES = {("GET", "/healthz"), ("GET", "/readyz")}


@dataclass(frozen=True)
class Victim:
    subject_id: str
    sample_id: str
    order_id: str
    webhook_id: str

    def fill(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.format(subject_id=self.subject_id, sample_id=self.sample_id,
                                order_id=self.order_id, webhook_id=self.webhook_id)  # fmt: skip
        if isinstance(value, dict):
            return {key: self.fill(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.fill(item) for item in value]
        return value


# Every test of this module reads one setup (the victim, the outsiders), built once per module;
# each test runs in a savepoint rolled back after it (tests/support/module_setup.py).


@pytest.fixture(scope="module")
async def miner_app(
    nfhub_database_url: str,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    compute_app: FastAPI,
    module_sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    settings = miner_settings_for(nfhub_database_url)
    async with running_miner_app(
        settings, admin_transport, files_app, compute_app, module_sessions
    ) as app:
        yield app


@pytest.fixture(scope="module")
async def miner_client(miner_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=miner_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=MINER_BASE_URL) as client:
        yield client


@pytest.fixture(scope="module")
async def victim(
    miner_client: httpx.AsyncClient, compute_client: httpx.AsyncClient, team: Team
) -> Victim:
    await register_hello(compute_client, team)

    async def make(collection: str, **body: Any) -> dict[str, Any]:
        response = await miner_client.post(
            f"/api/v1/{collection}", json=body, headers=team.headers("editor")
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    subject = await make("subjects", display_id="P-SECRET")
    sample = await make("samples", display_id="S-SECRET", subject_id=subject["id"])
    order = await make("orders", display_id="ORD-SECRET", pipeline="hello",
                       samples=[{"sample_id": sample["id"]}])  # fmt: skip
    webhook = await make("webhooks", url="https://lims.example.org/secret",
                         events=["order.transitioned"])  # fmt: skip
    return Victim(subject["id"], sample["id"], order["id"], webhook["id"])


async def send(
    client: httpx.AsyncClient, route: Route, victim: Victim, headers: dict[str, str]
) -> httpx.Response:
    if route.content is not None:
        return await client.request(
            route.method, victim.fill(route.path), content=route.content,
            headers={**headers, "Content-Type": "text/csv"},
        )  # fmt: skip
    return await client.request(
        route.method, victim.fill(route.path), json=victim.fill(route.body), headers=headers
    )


async def unchanged(client: httpx.AsyncClient, team: Any, victim: Victim) -> None:
    headers = team.headers("viewer")
    subject = (await client.get(f"/api/v1/subjects/{victim.subject_id}", headers=headers)).json()
    sample = (await client.get(f"/api/v1/samples/{victim.sample_id}", headers=headers)).json()
    order = (await client.get(f"/api/v1/orders/{victim.order_id}", headers=headers)).json()
    assert (subject["diagnosis"], subject["sample_count"]) == (None, 1)
    assert sample["tissue"] is None
    assert (order["status"], order["sample_count"], order["display_id"]) == (
        "created",
        1,
        "ORD-SECRET",
    )
    hook = f"/api/v1/webhooks/{victim.webhook_id}"
    webhook = (await client.get(hook, headers=team.headers("editor"))).json()
    assert (webhook["enabled"], webhook["previous_secret_until"]) == (True, None)
    deliveries = await client.get(f"{hook}/deliveries", headers=team.headers("editor"))
    assert deliveries.json()["count"] == 0


class TestRouteTable:
    def test_the_table_covers_every_route(self, miner_app: FastAPI) -> None:
        operations = {
            (method.upper(), path)
            for path, item in miner_app.openapi()["paths"].items()
            for method in item
        }
        assert operations - NOT_PROJECT_ROUTES == {(r.method, r.path) for r in ROUTES}


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.method} {r.path}" for r in ROUTES])
@pytest.mark.parametrize("who", ["other org", "same org"])
class TestIsolation:
    async def test_from_the_callers_own_project_nothing_of_it_is_found(
        self, miner_client: httpx.AsyncClient, team: Any, victim: Victim,
        outsiders: dict[str, tuple[Any, uuid.UUID]], route: Route, who: str,
    ) -> None:  # fmt: skip
        actor, own_project = outsiders[who]

        response = await send(miner_client, route, victim, actor.in_project(own_project))

        if route.kind == "list":
            assert response.status_code in (200, 201, 422), response.text
            for secret in (victim.subject_id, victim.sample_id, victim.order_id,
                           victim.webhook_id, "SECRET"):  # fmt: skip
                assert secret not in response.text
        else:
            assert response.status_code == (422 if route.kind == "ref" else 404), response.text
            assert response.headers["content-type"] == PROBLEM_JSON
        await unchanged(miner_client, team, victim)

    async def test_naming_the_foreign_project_is_not_found(
        self, miner_client: httpx.AsyncClient, team: Any, victim: Victim,
        outsiders: dict[str, tuple[Any, uuid.UUID]], route: Route, who: str,
    ) -> None:  # fmt: skip
        actor, _ = outsiders[who]

        response = await send(miner_client, route, victim, actor.in_project(team.project_id))

        assert response.status_code == 404, response.text
        assert f"Project {team.project_id} does not exist or you cannot see it" in response.text
        await unchanged(miner_client, team, victim)


class TestWithoutAToken:
    async def test_every_operation_answers_401(
        self, miner_client: httpx.AsyncClient, victim: Victim
    ) -> None:
        problems = []
        for route in ROUTES:
            for headers in ({}, {"Authorization": "Bearer nfh_pat_unknown"}):
                response = await send(miner_client, route, victim, headers)
                if response.status_code != 401 or "www-authenticate" not in response.headers:
                    problems.append(
                        f"{route.method} {route.path} {headers}: {response.status_code}"
                    )
        assert not problems, problems
