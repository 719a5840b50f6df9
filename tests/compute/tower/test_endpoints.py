"""Nextflow's Tower trace protocol on compute: the client's own requests, in and out of order."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from nfhub_compute.tower.endpoints import MAX_BODY_BYTES
from support.tower import Nextflow, RunsOf, payload, workspace_of

PROBLEM_JSON = "application/problem+json"


def tasks_batch(start: int, count: int, status: str) -> dict[str, Any]:
    """A progress request of ``count`` tasks shaped like the fixture's first one."""
    template = payload("progress")["tasks"][0]
    tasks = []
    for task_id in range(start, start + count):
        task = {**template, "taskId": task_id, "status": status, "name": f"P (s{task_id})"}
        if status != "COMPLETED":
            task.update(complete=None, exit=2147483647)
        tasks.append(task)
    return {**payload("progress"), "tasks": tasks}


async def tasks_of(client: httpx.AsyncClient, team: Any, run_id: str) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/runs/{run_id}/tasks", params={"limit": 500}, headers=team.headers("viewer")
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def run_of(client: httpx.AsyncClient, team: Any, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}", headers=team.headers("viewer"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestFullSequence:
    async def test_a_reported_run_is_an_external_run_with_tasks_and_final_state(
        self, nextflow: Nextflow, runs_of: RunsOf, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        created = await nextflow.create()
        assert created.status_code == 200, created.text
        workflow_id = created.json()["workflowId"]
        assert 1 <= len(workflow_id) <= 16 and workflow_id.isalnum()
        [run] = await runs_of()
        assert (run["state"], run["source"], run["channel"]) == (
            "INITIALIZING",
            "external",
            "tower",
        )

        begun = await nextflow.put(workflow_id, "begin", payload("begin"))
        assert begun.status_code == 200, begun.text
        assert begun.json()["watchUrl"] == f"http://compute.test/api/v1/runs/{run['id']}"
        progress = await nextflow.put(workflow_id, "progress", payload("progress"))
        assert progress.status_code == 200, progress.text
        running = await run_of(compute_client, team, run["id"])
        assert running["state"] == "RUNNING"
        assert running["tasks"]["total"] == 3
        heartbeat = await nextflow.put(workflow_id, "heartbeat", payload("heartbeat"))
        assert heartbeat.status_code == 200, heartbeat.text
        complete = await nextflow.put(workflow_id, "complete", payload("complete"))
        assert complete.status_code == 200, complete.text

        done = await run_of(compute_client, team, run["id"])
        assert done["state"] == "COMPLETE"
        assert done["pipeline"] is None
        assert done["nextflow_run_name"] == "maniac_hopper"
        assert done["name"] == "maniac_hopper"
        assert done["repository"] == "https://github.com/nf-core/rnaseq"
        assert done["revision"] == "3.14.0"
        assert done["command_line"].startswith("nextflow run nf-core/rnaseq -r 3.14.0")
        assert done["user_name"] == "ana"
        assert done["params"]["genome"] == "GRCh38"
        assert done["session_id"] == "8d8a3d45-8f3e-4b7b-9c55-2f0f8f6c1e2a"
        assert done["nextflow_version"] == "24.04.4"
        assert done["workflow_started_at"].startswith("2026-12-07T08:00:01.512")
        assert done["workflow_completed_at"].startswith("2026-12-07T08:12:44.02")
        assert done["workflow_success"] is True
        assert done["created_by"] == str(team.editor.id)
        tasks = {task["task_id"]: task for task in await tasks_of(compute_client, team, run["id"])}
        assert {k: t["status"] for k, t in tasks.items()} == {
            1: "COMPLETED",
            2: "RUNNING",
            3: "SUBMITTED",
        }
        # ISO-8601 times with an offset, unlike weblog's epoch milliseconds.
        assert tasks[1]["submit_at"].startswith("2026-12-07T08:00:05.12")
        assert tasks[1]["complete_at"].startswith("2026-12-07T08:01:12.443")
        assert (tasks[1]["peak_rss"], tasks[1]["cpu_percent"]) == (530841600, 398.4)
        assert tasks[1]["process"] == "NFCORE_RNASEQ:RNASEQ:FASTQC"

    async def test_a_jwt_access_token_is_sent_and_taken_as_a_bearer_token(
        self, nextflow: Nextflow, team: Any, runs_of: RunsOf
    ) -> None:
        response = await nextflow.create(token=team.editor.token)

        assert response.status_code == 200, response.text
        assert len(await runs_of()) == 1

    async def test_a_failed_run_ends_in_executor_error_with_nextflows_message(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        workflow_id = await nextflow.started()
        failed = payload("complete")
        failed["workflow"].update(
            success=False, exitStatus=1, errorMessage="Process `FASTQC (WT_REP1)` failed"
        )

        response = await nextflow.put(workflow_id, "complete", failed)

        assert response.status_code == 200, response.text
        [run] = await runs_of()
        assert (run["state"], run["exit_code"]) == ("EXECUTOR_ERROR", 1)
        assert run["state_reason"] == "Process `FASTQC (WT_REP1)` failed"


class TestReplayAndOrder:
    async def test_a_replayed_sequence_changes_nothing(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        ids = set()
        for _ in range(2):
            created = await nextflow.create()
            ids.add(created.json()["workflowId"])
            workflow_id = created.json()["workflowId"]
            for step in ("begin", "progress", "heartbeat", "complete", "progress"):
                response = await nextflow.put(workflow_id, step, payload(step))
                assert response.status_code == 200, (step, response.text)

        assert len(ids) == 1
        [run] = await runs_of()
        assert run["state"] == "COMPLETE"
        assert len(await tasks_of(compute_client, team, run["id"])) == 3

    async def test_a_resumed_session_with_a_new_run_name_is_a_new_run(
        self, nextflow: Nextflow, runs_of: RunsOf
    ) -> None:
        first = await nextflow.create()
        resumed = await nextflow.create({**payload("create"), "runName": "amazing_curie"})

        assert first.json()["workflowId"] != resumed.json()["workflowId"]
        assert len(await runs_of()) == 2

    async def test_complete_without_begin_or_progress_ends_the_run(
        self, nextflow: Nextflow, runs_of: RunsOf
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]

        response = await nextflow.put(workflow_id, "complete", payload("complete"))

        assert response.status_code == 200, response.text
        [run] = await runs_of()
        assert run["state"] == "COMPLETE"
        assert run["workflow_started_at"] is not None

    async def test_late_progress_and_begin_never_move_an_ended_run_back(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]
        await nextflow.put(workflow_id, "complete", payload("complete"))

        for step in ("progress", "begin", "heartbeat"):
            response = await nextflow.put(workflow_id, step, payload(step))
            assert response.status_code == 200, response.text

        [run] = await runs_of()
        assert run["state"] == "COMPLETE"
        assert len(await tasks_of(compute_client, team, run["id"])) == 3

    async def test_batches_of_100_with_repeated_updates_keep_the_latest_per_task(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        workflow_id = await nextflow.started()
        completed = tasks_batch(1, 100, "COMPLETED")
        # The same tasks again, older news, and a batch naming each task twice.
        doubled = tasks_batch(1, 100, "RUNNING")
        doubled["tasks"] += tasks_batch(1, 100, "SUBMITTED")["tasks"]
        for body in (tasks_batch(1, 100, "SUBMITTED"), completed, doubled, completed):
            response = await nextflow.put(workflow_id, "progress", body)
            assert response.status_code == 200, response.text

        [run] = await runs_of()
        tasks = await tasks_of(compute_client, team, run["id"])
        assert len(tasks) == 100
        assert {task["status"] for task in tasks} == {"COMPLETED"}


class TestRefusals:
    @pytest.mark.parametrize(
        ("case", "status"),
        [
            ("no token", 401),
            ("unknown token", 401),
            ("garbled basic credentials", 401),
            ("viewer", 403),
            ("token without runs:write", 403),
            ("another org's workspace", 403),
            ("no such workspace", 403),
            ("workspace not a number", 403),
            ("workspace of unicode digits", 403),
            ("no workspace", 400),
        ],
    )
    async def test_nothing_is_recorded_without_an_editor_in_the_workspace(
        self,
        nextflow: Nextflow,
        factory: Any,
        team: Any,
        runs_of: RunsOf,
        session_factory: Any,
        case: str,
        status: int,
    ) -> None:
        kwargs: dict[str, Any] = {}
        if case == "no token":
            kwargs["headers"] = {"Authorization": ""}
        elif case == "unknown token":
            kwargs["token"] = "nfh_pat_" + "x" * 43
        elif case == "garbled basic credentials":
            kwargs["headers"] = {"Authorization": "Basic not-base64!"}
        elif case == "viewer":
            kwargs["token"] = (await factory.personal_access_token(team.viewer))[1]
        elif case == "token without runs:write":
            kwargs["token"] = (
                await factory.personal_access_token(team.editor, scopes=["runs:read"])
            )[1]
        elif case == "another org's workspace":
            stranger = await factory.user()
            elsewhere = await factory.project(await factory.org(stranger))
            kwargs["workspace_id"] = await workspace_of(session_factory, elsewhere)
        elif case == "no such workspace":
            kwargs["workspace_id"] = 2**62
        elif case == "workspace not a number":
            kwargs["workspace_id"] = "ws-1"
        elif case == "workspace of unicode digits":
            kwargs["workspace_id"] = "\u00b2\u0663"
        elif case == "no workspace":
            nextflow.workspace_id = None

        response = await nextflow.create(**kwargs)

        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        # Nextflow prints the `message` field of an error answer.
        assert response.json()["message"]
        assert await runs_of() == []

    async def test_another_projects_workflow_is_not_found(
        self,
        nextflow: Nextflow,
        factory: Any,
        team: Any,
        session_factory: Any,
        compute_client: httpx.AsyncClient,
        runs_of: RunsOf,
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]
        other = await factory.project(team.org_id, members={team.editor: "editor"})
        other_workspace = await workspace_of(session_factory, other)

        for step in ("begin", "progress", "heartbeat", "complete"):
            response = await nextflow.put(
                workflow_id, step, payload(step), workspace_id=other_workspace
            )
            assert response.status_code == 404, response.text
            assert workflow_id in response.json()["message"]

        [run] = await runs_of()
        assert run["state"] == "INITIALIZING"
        assert await tasks_of(compute_client, team, run["id"]) == []

    @pytest.mark.parametrize("workflow_id", ["nosuchworkflow", "x" * 64, "a-b"])
    async def test_an_unknown_workflow_id_is_not_found(
        self, nextflow: Nextflow, workflow_id: str
    ) -> None:
        response = await nextflow.put(workflow_id, "progress", payload("progress"))

        assert response.status_code == 404, response.text

    async def test_an_external_run_cannot_be_canceled_or_relaunched_from_nfhub(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        await nextflow.started()
        [run] = await runs_of()

        cancel = await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("editor")
        )
        relaunch = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={}, headers=team.headers("editor")
        )

        assert cancel.status_code == 409, cancel.text
        assert relaunch.status_code == 409, relaunch.text
        [after] = await runs_of()
        assert after["state"] == "RUNNING"


def _long(field: str, size: int) -> dict[str, Any]:
    return {**payload("create"), field: "x" * size}


class TestBadBodies:
    @pytest.mark.parametrize(
        ("body", "status"),
        [
            (b"{not json", 422),
            (b"[]", 422),
            ({"runName": "maniac_hopper"}, 422),
            (_long("runName", 81), 422),
            (_long("sessionId", 37), 422),
            (_long("repository", 256), 422),
            ({**payload("create"), "runName": 42}, 422),
        ],
    )
    async def test_a_bad_create_is_refused_and_nothing_is_recorded(
        self, nextflow: Nextflow, runs_of: RunsOf, body: Any, status: int
    ) -> None:
        response = await nextflow.call("POST", "/trace/create", body)

        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert await runs_of() == []

    async def test_unknown_fields_are_ignored(self, nextflow: Nextflow, runs_of: RunsOf) -> None:
        body = {**payload("create"), "fusionEnabled": True, "labels": {"team": "rna"}}

        response = await nextflow.create(body)

        assert response.status_code == 200, response.text
        assert len(await runs_of()) == 1

    @pytest.mark.parametrize(
        ("step", "body"),
        [
            ("begin", {"workflow": {**payload("begin")["workflow"], "revision": "r" * 41}}),
            ("begin", {"processNames": []}),
            ("progress", {"tasks": "not a list"}),
            ("progress", tasks_batch(1, 501, "RUNNING")),
            ("complete", {"workflow": {"success": "maybe"}}),
            ("heartbeat", b"\xff\xfe"),
        ],
    )
    async def test_a_bad_report_is_refused_and_changes_nothing(
        self,
        nextflow: Nextflow,
        compute_client: httpx.AsyncClient,
        team: Any,
        runs_of: RunsOf,
        step: str,
        body: Any,
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]

        response = await nextflow.put(workflow_id, step, body)

        assert response.status_code == 422, response.text
        [run] = await runs_of()
        assert run["state"] == "INITIALIZING"
        assert await tasks_of(compute_client, team, run["id"]) == []


class TestBodySize:
    async def test_a_batch_of_100_tasks_with_the_longest_scripts_is_taken(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        workflow_id = await nextflow.started()
        body = tasks_batch(1, 100, "COMPLETED")
        for task in body["tasks"]:
            task.update(script="x" * 10240, env="E" * 2048)
        assert len(json.dumps(body)) > 1_048_576  # more than the edge's default limit

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 200, response.text
        [run] = await runs_of()
        assert len(await tasks_of(compute_client, team, run["id"])) == 100

    async def test_a_body_over_the_limit_is_413_and_changes_nothing(
        self, nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any, runs_of: RunsOf
    ) -> None:
        workflow_id = await nextflow.started()
        body = tasks_batch(1, 100, "COMPLETED")
        body["padding"] = "x" * (MAX_BODY_BYTES + 1)

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        [run] = await runs_of()
        assert await tasks_of(compute_client, team, run["id"]) == []
