"""compute's internal run-states endpoint: other services (a service token) ask how runs stand,
in any project; users' tokens are refused, and bad bodies get a problem."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nfhub_shared.auth.tokens import ServiceTokens

URL = "/api/v1/internal/run-states"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def service_headers(compute_app: FastAPI) -> dict[str, str]:
    secret = compute_app.state.settings.SERVICE_SECRET.get_secret_value()
    return {"Authorization": f"Bearer {ServiceTokens(secret, 'miner').token()}"}


async def test_answers_the_runs_it_knows(
    compute_client: httpx.AsyncClient,
    hello: Any,
    launch: Any,
    set_run: Any,
    team: Any,
    service_headers: dict[str, str],
) -> None:
    done = (await launch()).json()
    queued = (await launch()).json()
    await set_run(done["id"], state="EXECUTOR_ERROR", state_reason="Nextflow exited with code 1")

    response = await compute_client.post(
        URL, json={"ids": [done["id"], queued["id"], str(uuid.uuid4())]}, headers=service_headers
    )

    assert response.status_code == 200, response.text
    items = sorted(response.json()["items"], key=lambda item: item["state"])
    assert [(i["id"], i["state"], i["state_reason"]) for i in items] == [
        (done["id"], "EXECUTOR_ERROR", "Nextflow exited with code 1"),
        (queued["id"], "QUEUED", None),
    ]
    assert {item["project_id"] for item in items} == {str(team.project_id)}


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nonsense", "user"], ids=["none", "garbage", "user-token"]
)
async def test_only_services_may_ask(
    compute_client: httpx.AsyncClient, team: Any, authorization: str | None
) -> None:
    headers = {}
    if authorization == "user":
        headers = team.headers("admin")
    elif authorization is not None:
        headers = {"Authorization": authorization}

    response = await compute_client.post(URL, json={"ids": [str(uuid.uuid4())]}, headers=headers)

    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize(
    "body",
    [{}, {"ids": []}, {"ids": ["not-a-uuid"]}, {"ids": "x"}, {"ids": [str(uuid.uuid4())] * 501}],
    ids=["missing", "empty", "not-uuid", "not-list", "too-many"],
)
async def test_bad_bodies_are_422(
    compute_client: httpx.AsyncClient, service_headers: dict[str, str], body: dict[str, Any]
) -> None:
    response = await compute_client.post(URL, json=body, headers=service_headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
