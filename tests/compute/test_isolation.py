"""Another project's runs and another org's pipelines and compute environments are invisible on
every compute route.

The table names every operation of the compute API (checked against the live OpenAPI). Each is
called with ids from a project the caller has no role in: from the caller's own project
(another org, and the same org), and naming the foreign project in X-Project-ID. Every call
answers 404 (never 403, which would confirm the thing exists) and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from support.inprocess import Team
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
    body: dict[str, Any] | None = None
    # "run": the path names the foreign project's run; "pipeline": the org's private pipeline;
    # "env": the org's compute environment; "list": a list that must not show them.
    kind: str = "run"


ROUTES: dict[str, Route] = {
    "get_pipeline_by_slug": Route("GET", "/api/v1/pipelines/slug/{slug}", kind="pipeline"),
    "list_pipeline_versions": Route(
        "GET", "/api/v1/pipelines/slug/{slug}/versions", kind="pipeline"
    ),
    "create_pipeline_version": Route(
        "POST", "/api/v1/pipelines/slug/{slug}/versions",
        {"version": "9.9.9", "source": {"url": "https://github.com/x/y", "revision": "1"}},
        kind="pipeline",
    ),
    "get_pipeline_version": Route(
        "GET", "/api/v1/pipelines/slug/{slug}/versions/1.0.0", kind="pipeline"
    ),
    "deprecate_pipeline_version": Route(
        "POST", "/api/v1/pipelines/slug/{slug}/versions/1.0.0/deprecate", {}, kind="pipeline"
    ),
    "get_pipeline_params_schema": Route(
        "GET", "/api/v1/pipelines/slug/{slug}/versions/1.0.0/schema", kind="pipeline"
    ),
    "get_pipeline_input_schema": Route(
        "GET", "/api/v1/pipelines/slug/{slug}/versions/1.0.0/input-schema", kind="pipeline"
    ),
    "get_pipeline": Route("GET", "/api/v1/pipelines/{pipeline_id}", kind="pipeline"),
    "update_pipeline": Route(
        "PATCH", "/api/v1/pipelines/{pipeline_id}", {"name": "taken over"}, kind="pipeline"
    ),
    "list_pipelines": Route("GET", "/api/v1/pipelines", kind="list"),
    "create_pipeline": Route("POST", "/api/v1/pipelines", kind="list"),
    "create_run": Route(
        "POST", "/api/v1/runs",
        {"pipeline": "{slug}", "input": {"path": "sheets/hello.csv"}}, kind="pipeline",
    ),
    "list_runs": Route("GET", "/api/v1/runs", kind="list"),
    "list_runs_by_order": Route("GET", "/api/v1/runs/by-order/{order_id}", kind="list"),
    "get_run": Route("GET", "/api/v1/runs/{run_id}"),
    "delete_run": Route("DELETE", "/api/v1/runs/{run_id}"),
    "cancel_run": Route("POST", "/api/v1/runs/{run_id}/cancel"),
    "relaunch_run": Route("POST", "/api/v1/runs/{run_id}/relaunch", {}),
    "get_run_log": Route("GET", "/api/v1/runs/{run_id}/log"),
    "list_run_outputs": Route("GET", "/api/v1/runs/{run_id}/outputs"),
    "list_run_tasks": Route("GET", "/api/v1/runs/{run_id}/tasks"),
    "get_run_progress": Route("GET", "/api/v1/runs/{run_id}/progress"),
    "get_run_task": Route("GET", "/api/v1/runs/{run_id}/tasks/{task_id}"),
    "get_run_task_logs": Route("GET", "/api/v1/runs/{run_id}/tasks/{task_id}/logs"),
    "list_run_reports": Route("GET", "/api/v1/runs/{run_id}/reports"),
    "get_run_metrics": Route("GET", "/api/v1/runs/{run_id}/metrics"),
    "stream_run": Route("GET", "/api/v1/runs/{run_id}/stream"),  # 404 before any stream
    # A project's secret: invisible elsewhere; a name is the caller's own in their project.
    "list_secrets": Route("GET", "/api/v1/secrets", kind="list"),
    "create_secret": Route(
        "POST", "/api/v1/secrets", {"name": "VICTIM_KEY", "value": "taken over"}, kind="list"
    ),
    "get_secret": Route("GET", "/api/v1/secrets/{name}"),
    "put_secret": Route("PUT", "/api/v1/secrets/{name}", {"value": "taken over"}, kind="list"),
    "delete_secret": Route("DELETE", "/api/v1/secrets/{name}"),
    "list_compute_envs": Route("GET", "/api/v1/compute-envs", kind="list"),
    "create_compute_env": Route("POST", "/api/v1/compute-envs", kind="list"),
    "get_compute_env": Route("GET", "/api/v1/compute-envs/{env_id}", kind="env"),
    "update_compute_env": Route(
        "PATCH", "/api/v1/compute-envs/{env_id}", {"description": "taken over"}, kind="env"
    ),
    "delete_compute_env": Route("DELETE", "/api/v1/compute-envs/{env_id}", kind="env"),
    "make_compute_env_primary": Route(
        "POST", "/api/v1/compute-envs/{env_id}/primary", kind="env"
    ),
    "validate_compute_env": Route("POST", "/api/v1/compute-envs/{env_id}/validate", kind="env"),
    "list_webhooks": Route("GET", "/api/v1/webhooks", kind="list"),
    "create_webhook": Route(
        "POST", "/api/v1/webhooks",
        {"url": "https://lims.example.org/h", "events": ["run.completed"]}, kind="list",
    ),
    "get_webhook": Route("GET", "/api/v1/webhooks/{webhook_id}"),
    "update_webhook": Route("PATCH", "/api/v1/webhooks/{webhook_id}", {"enabled": False}),
    "delete_webhook": Route("DELETE", "/api/v1/webhooks/{webhook_id}"),
    "rotate_webhook_secret": Route("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"),
    "test_webhook": Route("POST", "/api/v1/webhooks/{webhook_id}/test"),
    "list_webhook_deliveries": Route("GET", "/api/v1/webhooks/{webhook_id}/deliveries"),
}  # fmt: skip
# Org-wide: another project of the same org sees them by design.
ORG_KINDS = ("pipeline", "env")
# Not user routes: health is public, events answer to the run's own secret (tested there).
NOT_PROJECT_ROUTES = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("POST", "/api/v1/runs/{run_id}/events"),
    # Services only (a service token, no project): tests/compute/test_internal.py.
    ("POST", "/api/v1/internal/run-states"),
    # An endless stream of the caller's own project (in-process ASGI would wait for its end):
    # tests/compute/stream shows another project's runs never appear in it.
    ("GET", "/api/v1/runs/stream"),
    # Nextflow's Tower client: the project is the ?workspaceId= one, no X-Project-ID;
    # another project's workflow and workspace: tests/compute/tower/test_endpoints.py.
    ("POST", "/api/v1/tower/trace/create"),
    *(
        ("PUT", f"/api/v1/tower/trace/{{workflow_id}}/{step}")
        for step in ("begin", "progress", "heartbeat", "complete")
    ),
    # GA4GH WES: errors in WES's shape, the project also from tags or the run itself; its own
    # table of another project's runs (404) and of token refusals: tests/compute/wes.
    ("GET", "/ga4gh/wes/v1/service-info"),
    ("GET", "/ga4gh/wes/v1/runs"),
    ("POST", "/ga4gh/wes/v1/runs"),
    ("GET", "/ga4gh/wes/v1/runs/{run_id}"),
    ("GET", "/ga4gh/wes/v1/runs/{run_id}/status"),
    ("POST", "/ga4gh/wes/v1/runs/{run_id}/cancel"),
    ("GET", "/ga4gh/wes/v1/runs/{run_id}/tasks"),
    ("GET", "/ga4gh/wes/v1/runs/{run_id}/tasks/{task_id}"),
}


@dataclass(frozen=True)
class Victim:
    run_id: str
    pipeline_id: str
    slug: str
    order_id: str
    secret: dict[str, Any]
    env_id: str
    webhook_id: str


# Every test of this module reads one setup (the victim, the outsiders), built once per module;
# each test runs in a savepoint rolled back after it (tests/support/module_setup.py).


@pytest.fixture(scope="module")
async def victim(
    compute_client: httpx.AsyncClient,
    team: Team,
    tmp_path_factory: pytest.TempPathFactory,
) -> Victim:
    hello = await register_hello(compute_client, team)
    order_id = str(uuid.uuid4())
    launched = await compute_client.post(
        "/api/v1/runs",
        json={"pipeline": "hello", "input": {"path": "sheets/hello.csv", "order_id": order_id}},
        headers=team.headers("editor"),
    )
    assert launched.status_code == 201, launched.text
    run = launched.json()
    tmp_path = tmp_path_factory.mktemp("victim")
    secret = await compute_client.post(
        "/api/v1/secrets", json={"name": "VICTIM_KEY", "value": "v"}, headers=team.headers("admin")
    )
    assert secret.status_code == 201, secret.text
    env = await compute_client.post(
        "/api/v1/compute-envs",
        json={"name": "victims", "backend": "local", "work_dir": str(tmp_path),
              "launch_dir": str(tmp_path)},
        headers=team.headers("admin"),
    )  # fmt: skip
    webhook = await compute_client.post(
        "/api/v1/webhooks",
        json={"url": "https://lims.example.org/victim", "events": ["run.completed"]},
        headers=team.headers("admin"),
    )
    assert webhook.status_code == 201, webhook.text
    return Victim(
        run["id"], hello["id"], "hello", order_id, secret.json(), env.json()["id"],
        webhook.json()["id"],
    )  # fmt: skip


def fill(text: str, victim: Victim) -> str:
    return text.format(
        run_id=victim.run_id, pipeline_id=victim.pipeline_id, slug=victim.slug,
        order_id=victim.order_id, name="VICTIM_KEY", env_id=victim.env_id,
        webhook_id=victim.webhook_id, task_id=1,
    )  # fmt: skip


class TestRouteTable:
    def test_the_table_covers_every_route(self, compute_app: FastAPI) -> None:
        operations = {
            (method.upper(), path)
            for path, item in compute_app.openapi()["paths"].items()
            for method in item
        }
        in_table = {
            (route.method, route.path.replace("/1.0.0", "/{version}")) for route in ROUTES.values()
        }
        assert operations - NOT_PROJECT_ROUTES == in_table


# A pipeline or a compute environment belongs to its org: another project of the same org
# sees it by design.
CASES = [
    (who, name)
    for name in sorted(ROUTES)
    for who in ("other org", "same org")
    if not (who == "same org" and ROUTES[name].kind in ORG_KINDS)
]


@pytest.mark.parametrize(("who", "name"), CASES)
class TestIsolation:
    async def test_from_the_callers_own_project_the_resource_is_not_found(
        self,
        compute_client: httpx.AsyncClient,
        team: Any,
        victim: Victim,
        outsiders: dict[str, tuple[Any, uuid.UUID]],
        name: str,
        who: str,
    ) -> None:
        route = ROUTES[name]
        actor, own_project = outsiders[who]
        body = None
        if route.body is not None:
            body = {k: fill(v, victim) if isinstance(v, str) else v for k, v in route.body.items()}
        response = await compute_client.request(
            route.method, fill(route.path, victim), json=body,
            headers=actor.in_project(own_project),
        )  # fmt: skip

        if route.kind == "list":
            assert response.status_code in (200, 201, 422), response.text
            assert victim.run_id not in response.text
            assert victim.secret["id"] not in response.text
            assert victim.webhook_id not in response.text
            if who == "other org":  # a pipeline or an environment is the whole org's
                assert victim.pipeline_id not in response.text
                assert victim.env_id not in response.text
        else:
            expected = 422 if name == "create_run" else 404  # a body reference: 422
            assert response.status_code == expected, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
        await self._unchanged(compute_client, team, victim)

    async def test_naming_the_foreign_project_is_not_found(
        self,
        compute_client: httpx.AsyncClient,
        team: Any,
        victim: Victim,
        outsiders: dict[str, tuple[Any, uuid.UUID]],
        name: str,
        who: str,
    ) -> None:
        route = ROUTES[name]
        actor, _ = outsiders[who]
        body = None
        if route.body is not None:
            body = {k: fill(v, victim) if isinstance(v, str) else v for k, v in route.body.items()}
        response = await compute_client.request(
            route.method, fill(route.path, victim), json=body,
            headers=actor.in_project(team.project_id),
        )  # fmt: skip

        assert response.status_code == 404, response.text
        assert f"Project {team.project_id} does not exist or you cannot see it" in response.text
        await self._unchanged(compute_client, team, victim)

    @staticmethod
    async def _unchanged(client: httpx.AsyncClient, team: Any, victim: Victim) -> None:
        run = (
            await client.get(f"/api/v1/runs/{victim.run_id}", headers=team.headers("viewer"))
        ).json()
        pipeline = (
            await client.get(
                f"/api/v1/pipelines/{victim.pipeline_id}", headers=team.headers("viewer")
            )
        ).json()
        secret = await client.get("/api/v1/secrets/VICTIM_KEY", headers=team.headers("viewer"))
        assert secret.json() == victim.secret
        assert run["state"] == "QUEUED"
        assert pipeline["name"] == "Hello (test)"
        assert pipeline["version"]["version"] == "1.0.0" and not pipeline["version"]["deprecated"]
        env = (
            await client.get(
                f"/api/v1/compute-envs/{victim.env_id}", headers=team.headers("viewer")
            )
        ).json()
        assert (env["description"], env["status"], env["validated_at"]) == (
            None, "AVAILABLE", None,
        )  # fmt: skip
        assert env["is_primary"] is False
        hook = f"/api/v1/webhooks/{victim.webhook_id}"
        webhook = (await client.get(hook, headers=team.headers("editor"))).json()
        assert (webhook["enabled"], webhook["previous_secret_until"]) == (True, None)
        deliveries = await client.get(f"{hook}/deliveries", headers=team.headers("editor"))
        assert deliveries.json()["count"] == 0


class TestWithoutAToken:
    async def test_every_protected_operation_answers_401(
        self, compute_app: FastAPI, compute_client: httpx.AsyncClient, victim: Victim
    ) -> None:
        problems = []
        for name, route in ROUTES.items():
            for headers in ({}, {"Authorization": "Bearer nfh_pat_unknown"}):
                response = await compute_client.request(
                    route.method, fill(route.path, victim), json=route.body, headers=headers
                )
                if response.status_code != 401 or "www-authenticate" not in response.headers:
                    problems.append(f"{name} {headers}: {response.status_code}")
        assert not problems, problems
