"""GA4GH WES on the real stack: the state machine of real runs (a worker, the nextflow
stand-in) through WES alone, and schemathesis running the vendored WES 1.1 spec against it.

The spec is read from the team's fixtures (NFHUB_FIXTURES_DIR): without them the conformance
test skips on a developer machine and fails in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.inprocess import FIXTURES
from support.live import LiveStack, wait_until
from support.require import require_dir

pytestmark = pytest.mark.timeout(300)
WES = "/ga4gh/wes/v1"
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
WES_ORDER = ["QUEUED", "INITIALIZING", "RUNNING", "CANCELING", "COMPLETE", "EXECUTOR_ERROR",
             "CANCELED"]  # fmt: skip
SPEC_SECONDS = 30


def wes_launch(stack: LiveStack, **params: Any) -> str:
    form = {
        "workflow_url": "hello",
        "workflow_type": "NFL",
        "workflow_type_version": "DSL2",
        "workflow_params": json.dumps({"input": "sheets/two.csv", **params}),
        "tags": json.dumps({"test": "live"}),
    }
    with stack.client("compute") as compute:
        response = compute.post(
            f"{WES}/runs", files={k: (None, v) for k, v in form.items()}, headers=stack.headers
        )
    assert response.status_code == 200, response.text
    return str(response.json()["run_id"])


def wes_get(stack: LiveStack, path: str, **params: Any) -> Any:
    with stack.client("compute") as compute:
        response = compute.get(WES + path, params=params, headers=stack.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestStateMachine:
    def test_runs_end_complete_executor_error_and_canceled_seen_through_wes(
        self, stack: LiveStack
    ) -> None:
        worker = stack.start_worker(reconcile_interval=0.2, dispatch_poll_seconds=0.2)
        seen: dict[str, list[str]] = {}
        try:
            done = wes_launch(stack, task_seconds=0.3)
            failed = wes_launch(stack, fail_process="FASTQC", exit_code=3)
            slow = wes_launch(stack, task_seconds=30)

            def observe(run_id: str) -> str:
                state = str(wes_get(stack, f"/runs/{run_id}/status")["state"])
                states = seen.setdefault(run_id, [])
                if not states or states[-1] != state:
                    states.append(state)
                return state

            wait_until(lambda: observe(slow) == "RUNNING", timeout=60, what="the slow run")
            with stack.client("compute") as compute:
                canceled = compute.post(f"{WES}/runs/{slow}/cancel", headers=stack.headers)
            assert canceled.status_code == 200 and canceled.json() == {"run_id": slow}
            wait_until(
                lambda: all(observe(run) in TERMINAL for run in (done, failed, slow)),
                timeout=90, interval=0.1, what="the three runs to end",
            )  # fmt: skip
        finally:
            worker.stop()

        assert seen[done][-1] == "COMPLETE", (seen, worker.tail())
        assert seen[failed][-1] == "EXECUTOR_ERROR", seen
        assert seen[slow][-1] == "CANCELED", seen
        for states in seen.values():  # polling may skip a state, never reorder them
            assert states == sorted(states, key=WES_ORDER.index), seen
        assert "RUNNING" in seen[slow]

        log = wes_get(stack, f"/runs/{done}")
        assert log["state"] == "COMPLETE" and log["run_log"]["exit_code"] == 0
        assert log["run_log"]["start_time"] and log["run_log"]["end_time"]
        assert log["request"]["tags"] == {"test": "live"}
        tasks = wes_get(stack, f"/runs/{done}/tasks", page_size=2)
        rest = wes_get(stack, f"/runs/{done}/tasks", page_token=tasks["next_page_token"])
        logs = tasks["task_logs"] + rest["task_logs"]
        assert [task["name"] for task in logs] == [
            "HELLO:FASTQC (S1)", "HELLO:FASTQC (S2)", "HELLO:MULTIQC",
        ]  # fmt: skip
        assert all(task["exit_code"] == 0 and task["end_time"] for task in logs)
        assert rest["next_page_token"] == ""
        one = wes_get(stack, f"/runs/{done}/tasks/{logs[0]['id']}")
        assert one == logs[0]
        failed_log = wes_get(stack, f"/runs/{failed}")
        assert failed_log["run_log"]["exit_code"] == 1
        assert any("exit status (3)" in line for line in failed_log["run_log"]["system_logs"])
        failed_tasks = wes_get(stack, f"/runs/{failed}/tasks")["task_logs"]
        assert 3 in {task.get("exit_code") for task in failed_tasks}


def vendored_spec(base_url: str, target: Path) -> Path:
    """The WES 1.1 document with its service-info reference resolved to the vendored
    service-info 1.0.0 (the original points at GitHub), served at ``base_url``."""
    folder = require_dir(FIXTURES / "ga4gh", "the vendored GA4GH specs")
    wes = yaml.safe_load((folder / "wes-1.1.0.openapi.yaml").read_text())
    service_info = yaml.safe_load((folder / "service-info-1.0.0.yaml").read_text())
    schemas = wes["components"]["schemas"]
    for name, schema in service_info["components"]["schemas"].items():
        schemas.setdefault(name, schema)
    schemas["ServiceInfo"]["allOf"][0] = {"$ref": "#/components/schemas/Service"}
    # The one change to the spec: ListTasks lists no 400, unlike ListRuns with the same
    # parameters; a page_size that is not an integer is a 400 on both here. (An integer out
    # of range is a preference kept within 1-500, and an unknown page_token a 404: no
    # refusal the spec does not list for ListTasks.)
    list_tasks = wes["paths"]["/runs/{run_id}/tasks"]["get"]["responses"]
    list_tasks.setdefault(400, wes["paths"]["/runs"]["get"]["responses"][400])
    wes["servers"] = [{"url": base_url}]
    target.write_text(json.dumps(wes))
    return target


class TestConformance:
    def test_the_vendored_spec_finds_no_server_error_and_no_answer_off_schema(
        self, stack: LiveStack, tmp_path: Path
    ) -> None:
        base = stack.urls["compute"] + WES
        spec = vendored_spec(base, tmp_path / "wes.json")
        # A finished run of the project with its tasks: the run and task routes are
        # exercised on real ids as well as on generated ones.
        worker = stack.start_worker(reconcile_interval=0.2, dispatch_poll_seconds=0.2)
        try:
            run_id = wes_launch(stack, task_seconds=0.1)
            wait_until(
                lambda: wes_get(stack, f"/runs/{run_id}/status")["state"] in TERMINAL,
                timeout=60, what="the run to end",
            )  # fmt: skip
        finally:
            worker.stop()
        assert wes_get(stack, f"/runs/{run_id}")["state"] == "COMPLETE", worker.tail()
        task_id = wes_get(stack, f"/runs/{run_id}/tasks")["task_logs"][0]["id"]
        config = tmp_path / "schemathesis.toml"
        config.write_text(
            "[generation]\nallow-x00 = false\n[parameters]\n"
            f'"path.run_id" = "{run_id}"\n"path.task_id" = "{task_id}"\n'
        )
        command = [
            sys.executable, "-m", "schemathesis.cli", "--config-file", str(config),
            "run", str(spec), "--url", base,
            "-H", f"Authorization: Bearer {stack.token}",
            "-H", f"X-Project-ID: {stack.project_id}",
            "--checks", "not_a_server_error,response_schema_conformance,"
            "content_type_conformance,status_code_conformance",
            "--phases", "examples,coverage,fuzzing",
            "--max-examples", "25", "--seed", "20261207", "--generation-deterministic",
            "--max-time", str(SPEC_SECONDS),
            "--continue-on-failure", "--workers", "1", "--no-color",
            "--output-truncate", "false",
        ]  # fmt: skip
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=200)

        out = result.stdout
        assert "Tested:" in out, out[-4000:] + result.stderr[-2000:]
        assert result.returncode == 0, out[-12000:]
        # Every one of the spec's eight operations was called.
        assert "Selected: 8/8" in out and "Tested: 8" in out, out[-3000:]
        assert wes_get(stack, f"/runs/{run_id}/status")["state"] == "COMPLETE", stack.run(run_id)
