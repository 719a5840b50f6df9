"""A launched run's own Tower token (COMPUTE_PROGRESS_CHANNEL=tower): good for the calls about
that run alone, never a user's, and the launched run still ends by its launcher's exit code."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from nfhub_compute.config import Settings
from nfhub_compute.runs.weblog import new_workflow_id, run_of_token, tower_run_token
from support.tower import Nextflow, payload

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
async def tower_run(
    compute_client: httpx.AsyncClient, hello: Any, launch: Any, set_run: Any
) -> tuple[str, str]:
    """A launched run on the Tower channel, submitted and RUNNING: (run id, workflow id)."""
    run = (await launch()).json()
    workflow_id = new_workflow_id()
    await set_run(run["id"], channel="tower", tower_workflow_id=workflow_id, state="RUNNING")
    return run["id"], workflow_id


def runs_nextflow(client: httpx.AsyncClient, settings: Settings, run_id: str) -> Nextflow:
    """The launched Nextflow: the run's token, no workspace (none is set for it)."""
    return Nextflow(client, tower_run_token(settings, uuid.UUID(run_id)), None)


class TestRunToken:
    def test_the_token_names_its_run_and_no_other(self, compute_settings: Settings) -> None:
        run_id = uuid.uuid4()
        token = tower_run_token(compute_settings, run_id)
        assert run_of_token(compute_settings, token) == run_id
        assert (
            run_of_token(compute_settings, token[:-1] + ("0" if token[-1] != "0" else "1")) is None
        )
        other = tower_run_token(compute_settings, uuid.uuid4())
        forged = token.split("_")[0] + "_" + token.split("_")[1] + "_" + other.split("_")[2]
        assert run_of_token(compute_settings, forged) is None
        assert "." not in token  # sent as Basic "@token:…" by Nextflow, never taken for a JWT

    async def test_the_launched_nextflow_attaches_to_its_run_and_reports(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        tower_run: tuple[str, str],
        team: Any,
    ) -> None:
        run_id, workflow_id = tower_run
        nextflow = runs_nextflow(compute_client, compute_settings, run_id)
        created = await nextflow.create({**payload("create"), "workflowId": workflow_id})
        assert created.status_code == 200, created.text
        assert created.json()["workflowId"] == workflow_id
        for step in ("begin", "progress", "heartbeat", "complete"):
            response = await nextflow.put(workflow_id, step, payload(step))
            assert response.status_code == 200, (step, response.text)

        runs = (await compute_client.get("/api/v1/runs", headers=team.headers("viewer"))).json()
        [run] = runs["items"]  # no second, external run
        assert run["id"] == run_id and run["source"] == "launched"
        # A launched run ends by its launcher's exit code (the reconciler), not by complete.
        assert run["state"] == "RUNNING"
        assert run["workflow_success"] is True
        tasks = await compute_client.get(
            f"/api/v1/runs/{run_id}/tasks", headers=team.headers("viewer")
        )
        assert tasks.json()["count"] == 3

    async def test_the_token_reports_no_other_run_and_creates_none(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        tower_run: tuple[str, str],
        launch: Any,
        set_run: Any,
        team: Any,
    ) -> None:
        run_id, _ = tower_run
        other = (await launch()).json()
        other_workflow = new_workflow_id()
        await set_run(other["id"], channel="tower", tower_workflow_id=other_workflow)
        nextflow = runs_nextflow(compute_client, compute_settings, run_id)

        attach = await nextflow.create({**payload("create"), "workflowId": other_workflow})
        progress = await nextflow.put(other_workflow, "progress", payload("progress"))
        fresh = await nextflow.create(payload("create"))

        assert attach.status_code == 404 and progress.status_code == 404
        assert fresh.status_code == 403
        assert "reports that run only" in fresh.json()["message"]
        tasks = await compute_client.get(
            f"/api/v1/runs/{other['id']}/tasks", headers=team.headers("viewer")
        )
        assert tasks.json()["count"] == 0

    async def test_a_forged_run_token_is_401_with_nextflows_message(
        self, compute_client: httpx.AsyncClient, tower_run: tuple[str, str]
    ) -> None:
        run_id, workflow_id = tower_run
        forged = f"nfrun_{uuid.UUID(run_id).hex}_{'0' * 64}"
        nextflow = Nextflow(compute_client, forged, None)

        response = await nextflow.put(workflow_id, "progress", payload("progress"))

        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["message"]

    async def test_the_run_token_opens_no_other_route(
        self, compute_client: httpx.AsyncClient, compute_settings: Settings,
        tower_run: tuple[str, str],
    ) -> None:  # fmt: skip
        run_id, _ = tower_run
        token = tower_run_token(compute_settings, uuid.UUID(run_id))

        response = await compute_client.get(
            f"/api/v1/runs/{run_id}", headers={"Authorization": f"Bearer {token}"}
        )

        assert response.status_code == 401
