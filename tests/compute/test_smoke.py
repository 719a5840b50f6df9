from __future__ import annotations

from typing import Any

import httpx


async def test_launch_a_run_of_a_registered_pipeline(
    compute_client: httpx.AsyncClient, hello: dict[str, Any], launch: Any, team: Any
) -> None:
    response = await launch(params={"greeting": "hi"}, labels=["batch:7"])

    assert response.status_code == 201, response.text
    run = response.json()
    assert run["state"] == "QUEUED"
    assert run["pipeline"]["slug"] == "hello"
    assert run["input"]["path"] == "sheets/hello.csv"
    fetched = await compute_client.get(f"/api/v1/runs/{run['id']}", headers=team.headers("viewer"))
    assert fetched.status_code == 200
    assert fetched.json()["tasks"]["total"] == 0
