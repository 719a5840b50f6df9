from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import task_values
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.worker.logship import LogShipper

PROBLEM_JSON = "application/problem+json"


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


class TestCreateRun:
    async def test_a_run_is_queued_with_the_versions_defaults(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        response = await launch(params={"greeting": "hi"}, labels=["b", "a", "b"], name="First")

        assert response.status_code == 201, response.text
        run = response.json()
        assert response.headers["location"].endswith(f"/api/v1/runs/{run['id']}")
        assert run["state"] == "QUEUED" and run["name"] == "First"
        assert run["pipeline"]["version"] == "1.0.0" and run["labels"] == ["a", "b"]
        assert run["params"] == {"greeting": "hi"}  # what was given, defaults not repeated
        assert run["outdir"] == f"runs/{run['id']}/"
        assert run["nextflow_run_name"] == f"nfhub-{uuid.UUID(run['id']).hex}"
        assert run["created_by"] == str(team.editor.id)

    async def test_every_failing_parameter_is_listed(self, hello: Any, launch: Any) -> None:
        response = await launch(
            params={"task_seconds": "slow", "fail_process": "BOGUS", "greting": "hi"}
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        errors = {error["field"]: error for error in response.json()["errors"]}
        assert set(errors) == {"params.task_seconds", "params.fail_process", "params.greting"}
        assert errors["params.task_seconds"]["type"] == "type"
        assert errors["params.fail_process"]["type"] == "enum"
        assert "did you mean 'greeting'?" in errors["params.greting"]["message"]

    @pytest.mark.parametrize("name", ["input", "outdir"])
    async def test_input_and_outdir_are_nfhubs_to_set(
        self, hello: Any, launch: Any, name: str
    ) -> None:
        response = await launch(params={name: "/elsewhere"})

        assert response.status_code == 422
        assert fields(response) == [f"params.{name}"]

    @pytest.mark.parametrize(
        ("input_", "message"),
        [
            ({"path": "sheets/nope.csv"}, "not in this project's files"),
            ({"path": "sheets"}, "is a folder"),
            ({"order_id": str(uuid.uuid4())}, "input.path is needed"),
            ({"path": "../../etc/passwd"}, "files service"),
            ({"path": "sheets/%2e%2e/x.csv"}, "files service"),
        ],
    )
    async def test_the_input_must_be_a_file_of_the_project(
        self, hello: Any, launch: Any, input_: dict[str, str], message: str
    ) -> None:
        response = await launch(input=input_)

        assert response.status_code == 422, response.text
        assert fields(response) == ["input.path"]
        assert message in response.json()["detail"]

    async def test_a_pipeline_that_needs_an_input_says_so(self, hello: Any, launch: Any) -> None:
        response = await launch(input=None)

        assert response.status_code == 422
        assert response.json()["errors"][0] == {
            "location": "body",
            "field": "input.path",
            "message": "the pipeline needs an input samplesheet: give input.path",
            "type": "required",
        }

    async def test_an_input_that_breaks_the_schemas_pattern_is_named(
        self, hello: Any, launch: Any, team: Any
    ) -> None:
        team.put("sheets/sheet.tsv", b"sample\tfastq_1\n")
        response = await launch(input={"path": "sheets/sheet.tsv"})

        assert response.status_code == 422
        assert fields(response) == ["input.path"]
        assert "ending in '.csv'" in response.json()["errors"][0]["message"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"pipeline": "nope"}, "pipeline"),
            ({"version": "9.9.9"}, "version"),
            ({"pipeline": "Not A Slug"}, "pipeline"),
            ({"params": []}, "params"),
            ({"labels": ["has space"]}, "labels.0"),
            ({"profiles": ["docker;rm -rf /"]}, "profiles.0"),
            ({"unexpected": 1}, "unexpected"),
        ],
    )
    async def test_bad_references_and_fields_are_422(
        self, hello: Any, launch: Any, body: dict[str, Any], field: str
    ) -> None:
        response = await launch(**body)

        assert response.status_code == 422, response.text
        assert fields(response) == [field]

    async def test_a_deprecated_version_is_not_launched(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        await compute_client.post(
            "/api/v1/pipelines/slug/hello/versions/1.0.0/deprecate", json={"note": "use 2"},
            headers=team.headers("admin"),
        )  # fmt: skip

        pinned = await launch(version="1.0.0")
        latest = await launch()

        assert pinned.status_code == 422 and "deprecated (use 2)" in pinned.json()["detail"]
        assert latest.status_code == 422 and fields(latest) == ["version"]

    async def test_viewers_and_tokens_without_runs_write_may_not_launch(
        self, hello: Any, launch: Any, compute_client: httpx.AsyncClient, team: Any, factory: Any
    ) -> None:
        _, token = await factory.personal_access_token(team.editor, scopes=["runs:read"])
        as_viewer = await launch(role="viewer")
        read_only = await compute_client.post(
            "/api/v1/runs",
            json={"pipeline": "hello", "input": {"path": "sheets/hello.csv"}},
            headers={"Authorization": f"Bearer {token}", "X-Project-ID": str(team.project_id)},
        )

        assert as_viewer.status_code == 403
        assert read_only.status_code == 403
        assert "runs:write" in read_only.json()["detail"]

    async def test_malformed_json_is_a_422_not_a_500(
        self, hello: Any, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await compute_client.post(
            "/api/v1/runs",
            content=b'{"pipeline": "hello", ',
            headers={**team.headers("editor"), "Content-Type": "application/json"},
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON


class TestListRuns:
    async def test_filters_by_state_pipeline_label_order_and_time(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any
    ) -> None:
        order = str(uuid.uuid4())
        first = (await launch(labels=["batch:1"])).json()
        second = (await launch(labels=["batch:2"], input={"path": "sheets/hello.csv",
                                                           "order_id": order})).json()  # fmt: skip
        await set_run(
            first["id"], state="COMPLETE", created_at=datetime.now(UTC) - timedelta(days=2)
        )

        async def ids(**params: Any) -> list[str]:
            response = await compute_client.get(
                "/api/v1/runs", params=params, headers=team.headers("viewer")
            )
            assert response.status_code == 200, response.text
            return [run["id"] for run in response.json()["items"]]

        yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert await ids() == [second["id"], first["id"]]  # newest first
        assert await ids(state="COMPLETE") == [first["id"]]
        assert await ids(state=["QUEUED", "COMPLETE"]) == [second["id"], first["id"]]
        assert await ids(label="batch:2") == [second["id"]]
        assert await ids(order_id=order) == [second["id"]]
        assert await ids(pipeline="hello") == [second["id"], first["id"]]
        assert await ids(pipeline="other") == []
        assert await ids(created_after=yesterday) == [second["id"]]
        assert await ids(created_before=yesterday) == [first["id"]]
        by_order = await compute_client.get(
            f"/api/v1/runs/by-order/{order}", headers=team.headers("viewer")
        )
        assert [run["id"] for run in by_order.json()["items"]] == [second["id"]]

    async def test_each_run_carries_its_task_counts_from_one_query(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        session_factory: Any,
    ) -> None:
        done, failed, fresh = [(await launch()).json()["id"] for _ in range(3)]
        await set_run(done, state="COMPLETE")
        await set_run(failed, state="EXECUTOR_ERROR")
        statuses = {done: ["COMPLETED", "COMPLETED", "CACHED"], failed: ["COMPLETED", "FAILED"]}
        async with session_factory() as session, session.begin():
            for run_id, run_statuses in statuses.items():
                await TaskRepository(session).upsert(
                    uuid.UUID(run_id),
                    [task_values({"task_id": n + 1, "process": "HELLO", "status": status})
                     for n, status in enumerate(run_statuses)],
                )  # fmt: skip
        engine = session_factory.kw["bind"].sync_engine
        statements: list[str] = []

        def record(*args: Any) -> None:
            statements.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        try:
            response = await compute_client.get("/api/v1/runs", headers=team.headers("viewer"))
        finally:
            event.remove(engine, "before_cursor_execute", record)

        tasks = {run["id"]: run["tasks"] for run in response.json()["items"]}
        assert response.status_code == 200
        assert (tasks[done]["succeeded"], tasks[done]["cached"], tasks[done]["total"]) == (2, 1, 3)
        assert (tasks[failed]["failed"], tasks[failed]["total"]) == (1, 2)
        assert tasks[fresh]["total"] == 0
        assert sum("FROM compute.tasks" in statement for statement in statements) == 1

    @pytest.mark.parametrize(
        "params",
        [{"state": "DONE"}, {"limit": 0}, {"limit": 501}, {"created_after": "yesterday"},
         # Numbers are not read as Unix times: the document says ISO 8601 date-time.
         {"created_before": "0.5"}, {"created_after": "1700000000"},
         {"created_after": "2026-01-31"}, {"order_id": "x"}, {"label": "a b"}],
    )  # fmt: skip
    async def test_bad_filters_are_422(
        self, compute_client: httpx.AsyncClient, team: Any, params: dict[str, Any]
    ) -> None:
        response = await compute_client.get(
            "/api/v1/runs", params=params, headers=team.headers("viewer")
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_pages_carry_a_link_header(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        for _ in range(3):
            await launch()
        response = await compute_client.get(
            "/api/v1/runs", params={"limit": 2}, headers=team.headers("viewer")
        )

        assert response.json()["count"] == 3 and len(response.json()["items"]) == 2
        assert 'rel="next"' in response.headers["link"]


class TestCancelRun:
    async def test_a_queued_run_is_canceled_at_once(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("editor")
        )

        assert response.status_code == 202
        body = response.json()
        assert body["state"] == "CANCELED" and body["finished_at"] is not None
        assert body["state_reason"] == "Canceled before it was submitted."

    @pytest.mark.parametrize("state", ["INITIALIZING", "RUNNING", "UNKNOWN"])
    async def test_a_submitted_run_waits_for_the_backend_in_canceling(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        state: str,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state=state)

        first = await compute_client.delete(
            f"/api/v1/runs/{run['id']}", headers=team.headers("editor")
        )
        again = await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("editor")
        )

        assert first.status_code == 202 and first.json()["state"] == "CANCELING"
        assert first.json()["canceling_at"] is not None
        assert again.status_code == 202 and again.json()["state"] == "CANCELING"

    @pytest.mark.parametrize("state", ["COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"])
    async def test_an_ended_run_cannot_be_canceled(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        state: str,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state=state)

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("editor")
        )

        assert response.status_code == 409
        assert f"is {state}" in response.json()["detail"]

    async def test_viewers_may_not_cancel(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("viewer")
        )

        assert response.status_code == 403
        fetched = await compute_client.get(
            f"/api/v1/runs/{run['id']}", headers=team.headers("viewer")
        )
        assert fetched.json()["state"] == "QUEUED"


class TestRelaunch:
    async def test_relaunch_changes_params_and_drops_nulls(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any
    ) -> None:
        run = (await launch(params={"greeting": "hi", "task_seconds": 1}, labels=["x"])).json()
        await set_run(run["id"], state="EXECUTOR_ERROR")

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch",
            json={"params": {"task_seconds": None, "fail_process": "MULTIQC"}},
            headers=team.headers("editor"),
        )

        assert response.status_code == 201, response.text
        again = response.json()
        assert again["id"] != run["id"] and again["relaunched_from_id"] == run["id"]
        assert again["params"] == {"greeting": "hi", "fail_process": "MULTIQC"}
        assert again["labels"] == ["x"] and again["resume"] is False
        assert again["session_id"] is None

    async def test_relaunched_params_are_validated_too(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch",
            json={"params": {"exit_code": 999}},
            headers=team.headers("editor"),
        )

        assert response.status_code == 422
        assert fields(response) == ["params.exit_code"]

    async def test_resume_needs_a_started_session(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="SYSTEM_ERROR")

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={"resume": True},
            headers=team.headers("editor"),
        )  # fmt: skip

        assert response.status_code == 409
        assert "never started a Nextflow session" in response.json()["detail"]

    async def test_resume_keeps_session_and_work_dir(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any
    ) -> None:
        run = (await launch()).json()
        session = str(uuid.uuid4())
        await set_run(run["id"], state="EXECUTOR_ERROR", session_id=session, work_dir="/w/1")

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={"resume": True},
            headers=team.headers("editor"),
        )  # fmt: skip

        assert response.status_code == 201
        assert (response.json()["resume"], response.json()["session_id"]) == (True, session)

    async def test_a_deleted_input_stops_the_relaunch(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        (team.storage / "sheets" / "hello.csv").unlink()

        response = await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={}, headers=team.headers("editor")
        )

        assert response.status_code == 422
        assert fields(response) == ["input.path"]


class TestLogAndOutputs:
    async def test_the_log_is_paged_by_lines_from_what_the_worker_shipped(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        session_factory: Any,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        tmp_path: Path,
    ) -> None:
        run = (await launch()).json()
        launch_dir = tmp_path / "launch"
        launch_dir.mkdir()
        (launch_dir / ".nextflow.log").write_text("".join(f"line {n}\n" for n in range(10)))
        handle = {"launch_dir": str(launch_dir), "pid": 1}
        await set_run(run["id"], backend_handle=handle)
        backend = LocalBackend(compute_settings.WORK_ROOT)
        shipper = LogShipper(session_factory, compute_settings)
        async with session_factory() as session:
            shipped = await RunRepository(session).get(uuid.UUID(run["id"]))
        assert shipped is not None
        await shipper.ship(shipped, backend, final=True)
        # The API reads the database: the launch folder may be on another host, or gone.
        shutil.rmtree(launch_dir)

        page = await compute_client.get(
            f"/api/v1/runs/{run['id']}/log", params={"offset": 8, "limit": 5},
            headers=team.headers("viewer"),
        )  # fmt: skip
        middle = await compute_client.get(
            f"/api/v1/runs/{run['id']}/log", params={"offset": 3, "limit": 2},
            headers=team.headers("viewer"),
        )  # fmt: skip
        console = await compute_client.get(
            f"/api/v1/runs/{run['id']}/log", params={"source": "console"},
            headers=team.headers("viewer"),
        )  # fmt: skip

        assert page.json() == {"source": "nextflow", "lines": ["line 8", "line 9"], "count": 10,
                               "offset": 8, "limit": 5}  # fmt: skip
        assert middle.json()["lines"] == ["line 3", "line 4"]
        assert console.json()["lines"] == [] and console.json()["count"] == 0

    async def test_a_run_not_yet_submitted_has_an_empty_log(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/log", headers=team.headers("viewer")
        )

        assert response.status_code == 200 and response.json()["count"] == 0

    async def test_outputs_list_a_folder_with_signed_urls(
        self,
        compute_client: httpx.AsyncClient,
        files_app: Any,
        hello: Any,
        launch: Any,
        team: Any,
    ) -> None:
        run = (await launch()).json()
        team.put(f"runs/{run['id']}/multiqc/multiqc_report.html", b"<html>report</html>")
        team.put(f"runs/{run['id']}/fastqc/S1_fastqc.html", b"<html>S1</html>")

        top = await compute_client.get(
            f"/api/v1/runs/{run['id']}/outputs", headers=team.headers("viewer")
        )
        folder = await compute_client.get(
            f"/api/v1/runs/{run['id']}/outputs", params={"path": "multiqc/"},
            headers=team.headers("viewer"),
        )  # fmt: skip

        assert [(e["path"], e["kind"]) for e in top.json()["items"]] == [
            ("fastqc/", "folder"), ("multiqc/", "folder"),
        ]  # fmt: skip
        (entry,) = folder.json()["items"]
        assert entry["path"] == "multiqc/multiqc_report.html" and entry["size"] == 19
        assert entry["project_path"] == f"runs/{run['id']}/multiqc/multiqc_report.html"
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=files_app), base_url="http://files.test"
        ) as files:
            downloaded = await files.get(entry["download_url"])
        assert downloaded.content == b"<html>report</html>"

    async def test_a_run_without_outputs_yet_lists_nothing(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/outputs", headers=team.headers("viewer")
        )

        assert response.status_code == 200
        assert response.json()["items"] == [] and response.json()["count"] == 0

    @pytest.mark.parametrize("path", ["../", "../../other", "a/../../.."])
    async def test_outputs_never_leave_the_runs_folder(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, path: str
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/outputs", params={"path": path},
            headers=team.headers("viewer"),
        )  # fmt: skip

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "path"

    async def test_outputs_need_the_files_read_scope_too(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, factory: Any
    ) -> None:
        run = (await launch()).json()
        _, token = await factory.personal_access_token(team.viewer, scopes=["runs:read"])
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/outputs",
            headers={"Authorization": f"Bearer {token}", "X-Project-ID": str(team.project_id)},
        )

        assert response.status_code == 403
        assert "files:read" in response.json()["detail"]


class TestAudit:
    async def test_launch_cancel_and_relaunch_are_audited(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        from sqlalchemy import select

        from nfhub_compute.models import audit_events

        run = (await launch()).json()
        await compute_client.post(
            f"/api/v1/runs/{run['id']}/cancel", headers=team.headers("editor")
        )
        await compute_client.post(
            f"/api/v1/runs/{run['id']}/relaunch", json={}, headers=team.headers("editor")
        )
        async with session_factory() as session:
            rows = (
                await session.execute(
                    select(audit_events.c.action, audit_events.c.actor_id, audit_events.c.details)
                    .where(audit_events.c.project_id == team.project_id)
                    .order_by(audit_events.c.occurred_at)
                )
            ).all()

        assert [row.action for row in rows] == [
            "pipeline.create", "run.create", "run.cancel", "run.relaunch",
        ]  # fmt: skip
        assert {row.actor_id for row in rows[1:]} == {str(team.editor.id)}
        assert json.loads(json.dumps(rows[2].details)) == {"from": "QUEUED"}
