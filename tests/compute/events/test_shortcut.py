"""The weblog route run from just inside the edge (events.endpoints.WeblogShortcut): its
requests must be answered as the app's router would answer them, with the same route, the
same refusals and the same labels in the metrics."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.routing import Match

from nfhub_compute.config import Settings
from nfhub_compute.events.endpoints import WeblogShortcut
from nfhub_compute.runs.weblog import weblog_token

PROBLEM_JSON = "application/problem+json"
SUBMITTED = {
    "event": "process_submitted",
    "runName": "happy_turing",
    "runId": "7d2a3b1c-0000-4000-8000-000000000001",
    "utcTime": "2024-05-14T08:26:31Z",
    "trace": {"task_id": 1, "status": "SUBMITTED", "name": "HELLO (1)", "process": "HELLO"},
}


def shortcut_route(app: FastAPI) -> Any:
    (middleware,) = [m for m in app.user_middleware if m.cls is WeblogShortcut]
    return middleware.kwargs["route"]


def test_the_router_would_pick_the_same_route(compute_app: FastAPI) -> None:
    """A route added ahead of it that also matches would be bypassed: this fails first."""
    for method in ("POST", "GET"):
        scope = {
            "type": "http",
            "method": method,
            "path": f"/api/v1/runs/{uuid.uuid4()}/events",
            "root_path": "",
            "query_string": b"",
            "headers": [],
        }
        routes = compute_app.router.routes
        full = [route for route in routes if route.matches(scope)[0] is Match.FULL]
        if method == "POST":
            assert full[:1] == [shortcut_route(compute_app)]
        else:
            assert full == []  # left to the router: a 405


async def test_another_method_is_the_routers_405(
    compute_client: httpx.AsyncClient, compute_settings: Settings
) -> None:
    run_id = uuid.uuid4()
    token = weblog_token(compute_settings, run_id)

    response = await compute_client.get(f"/api/v1/runs/{run_id}/events", params={"token": token})

    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["allow"] == "POST"
    assert response.headers["x-request-id"]


async def test_answers_and_refusals_are_counted_under_its_route(
    compute_client: httpx.AsyncClient, compute_settings: Settings, hello: Any, launch: Any
) -> None:
    run = (await launch()).json()
    token = weblog_token(compute_settings, uuid.UUID(run["id"]))
    url = f"/api/v1/runs/{run['id']}/events"
    body = json.dumps(SUBMITTED).encode()
    headers = {"Content-Type": "application/json"}

    stored = await compute_client.post(url, params={"token": token}, content=body, headers=headers)
    refused = await compute_client.post(url, params={"token": "x"}, content=body, headers=headers)
    broken = await compute_client.post(url, params={"token": token}, content=b"[", headers=headers)

    assert (stored.status_code, refused.status_code, broken.status_code) == (204, 401, 400)
    assert refused.headers["content-type"] == broken.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["status"] == 401 and broken.json()["status"] == 400
    assert refused.headers["www-authenticate"]
    metrics = (await compute_client.get("/metrics")).text
    for status in (204, 401, 400):
        assert (
            f'http_requests_total{{method="POST",route="/api/v1/runs/{{run_id}}/events",'
            f'status="{status}"}} 1.0' in metrics
        )
