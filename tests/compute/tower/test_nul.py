"""The NUL character (``\\u0000``), which PostgreSQL stores in neither text nor jsonb, in what
a Tower client sends: a 422 that names it, nothing recorded; an escaped backslash before
"u0000" is plain text and taken."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.tower import Nextflow, RunsOf, payload

PROBLEM_JSON = "application/problem+json"


def with_nul(step: str) -> dict[str, Any]:
    body = payload(step)
    if step == "progress":
        body["tasks"][0]["script"] = "echo a\u0000b"
    elif step == "heartbeat":
        body["progress"]["nul\u0000key"] = 1
    elif step == "create":
        body["runName"] = "run\u0000"
    else:
        body["workflow"]["params"] = {"note": "a\u0000"}
    return body


async def tasks_of(client: httpx.AsyncClient, team: Any, run_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/runs/{run_id}/tasks", headers=team.headers("viewer"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestNul:
    async def test_a_create_holding_nul_is_422_and_records_nothing(
        self, nextflow: Nextflow, runs_of: RunsOf
    ) -> None:
        response = await nextflow.create(with_nul("create"))

        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert "NUL" in response.json()["message"]
        assert await runs_of() == []

    @pytest.mark.parametrize("step", ["begin", "progress", "heartbeat", "complete"])
    async def test_a_report_holding_nul_is_422_and_changes_nothing(
        self,
        nextflow: Nextflow,
        compute_client: httpx.AsyncClient,
        team: Any,
        runs_of: RunsOf,
        step: str,
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]

        response = await nextflow.put(workflow_id, step, with_nul(step))

        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert "NUL" in response.json()["message"]
        [run] = await runs_of()
        assert run["state"] == "INITIALIZING"
        assert run["progress"] is None if "progress" in run else True
        assert await tasks_of(compute_client, team, run["id"]) == []

    async def test_an_escaped_backslash_before_u0000_is_text_and_kept(
        self,
        nextflow: Nextflow,
        compute_client: httpx.AsyncClient,
        team: Any,
        runs_of: RunsOf,
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]
        body = payload("progress")
        body["tasks"][0]["tag"] = "C:\\u0000dir"  # a backslash, then "u0000"

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 200, response.text
        [run] = await runs_of()
        tasks = {task["task_id"]: task for task in await tasks_of(compute_client, team, run["id"])}
        assert tasks[1]["tag"] == "C:\\u0000dir"
