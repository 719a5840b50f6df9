"""A run nfhub launches itself, reporting over the Tower channel (COMPUTE_PROGRESS_CHANNEL=tower)
instead of the weblog: ``nextflow run … -with-tower <compute>/api/v1/tower`` with the run's own
token in TOWER_ACCESS_TOKEN and TOWER_WORKFLOW_ID naming the run nfhub made. It must end like
the weblog run of test_runs.TestLifecycle: the same state, counters, task rows and outputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from support.live import LiveStack, Process, wait_until
from support.ports import free_port

HELLO_SHEETS = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n" \
    b"S2,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz\n"  # fmt: skip
TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def channel(shared_stack: LiveStack) -> Iterator[tuple[LiveStack, Process]]:
    """The shared stack with a compute API of this module's, on the same database, that makes
    its runs on the Tower channel (COMPUTE_PROGRESS_CHANNEL: a setting of compute's, read when
    a run is made), and workers that give Nextflow its URL; the rest of the stack as it is."""
    url = f"http://127.0.0.1:{free_port()}"
    tower = replace(
        shared_stack,
        urls={**shared_stack.urls, "compute": url},
        env={**shared_stack.env, "COMPUTE_URL": url, "COMPUTE_PROGRESS_CHANNEL": "tower"},
    )
    compute = tower.start_service("compute")
    try:
        tower.wait_ready(compute)
        tower.register_hello()
        tower.upload("sheets/two.csv", HELLO_SHEETS)
        yield tower, compute
    finally:
        compute.stop()


def get(stack: LiveStack, url: str, **params: Any) -> Any:
    with stack.client("compute") as compute:
        response = compute.get(url, params=params, headers=stack.headers)
    assert response.status_code == 200, response.text
    return response.json()


class TestTowerChannel:
    def test_a_launched_run_reports_over_tower_to_the_same_end_as_over_the_weblog(
        self, channel: tuple[LiveStack, Process]
    ) -> None:
        stack, tower_compute = channel
        worker = stack.start_worker()
        try:
            with stack.client("compute") as compute:
                response = compute.post(
                    "/api/v1/runs", headers=stack.headers,
                    json={"pipeline": "hello", "input": {"path": "sheets/two.csv"},
                          "params": {"task_seconds": 0.4}},
                )  # fmt: skip
            assert response.status_code == 201, response.text
            run = response.json()
            assert run["channel"] == "tower" and run["source"] == "launched"
            wait_until(
                lambda: stack.run(run["id"])["state"] in TERMINAL,
                timeout=90, interval=0.1, what="the run to end",
            )  # fmt: skip
        finally:
            worker.stop()
        done = stack.run(run["id"])
        assert done["state"] == "COMPLETE", (done, worker.tail())
        assert done["exit_code"] == 0 and done["workflow_success"] is True
        assert done["running_at"] is not None and done["finished_at"] is not None
        assert done["params"]["task_seconds"] == 0.4  # begin did not replace what was launched
        # The same counters, task rows and outputs as the weblog run of test_runs.
        assert done["tasks"] == {
            "submitted": 0, "running": 0, "succeeded": 3, "failed": 0, "cached": 0,
            "aborted": 0, "total": 3,
        }  # fmt: skip
        tasks = get(stack, f"/api/v1/runs/{run['id']}/tasks", sort="task_id")
        assert [t["tag"] for t in tasks["items"]] == ["S1", "S2", None]
        assert all(t["peak_rss"] == 62914560 and t["exit_status"] == 0 for t in tasks["items"])
        outputs = get(stack, f"/api/v1/runs/{run['id']}/outputs", path="fastqc")
        assert {item["name"] for item in outputs["items"]} == {
            "S1_fastqc.html", "S2_fastqc.html"
        }  # fmt: skip
        reports = get(stack, f"/api/v1/runs/{run['id']}/reports")["items"]
        assert [r["kind"] for r in reports] == ["report", "timeline", "dag"]
        # The metrics are the summary the Tower client sent with complete.
        metrics = get(stack, f"/api/v1/runs/{run['id']}/metrics")
        assert metrics["source"] == "tower"
        fastqc, multiqc = metrics["processes"]
        assert (fastqc["process"], multiqc["process"]) == ("FASTQC", "MULTIQC")
        assert fastqc["cpu_percent"]["median"] == 98.5 and fastqc["cpu_usage"]["max"] == 49.25
        # One run, not a second external one made by Nextflow's create.
        listed = get(stack, "/api/v1/runs")["items"]
        assert [item["id"] for item in listed] == [run["id"]]
        # -with-tower on the command line; the run's token in no argument and no file left.
        [invocation] = [
            json.loads(line)
            for line in stack.invocations.read_text().splitlines()
            if done["nextflow_run_name"] in line
        ]
        argv = invocation["argv"]
        assert argv[argv.index("-with-tower") + 1] == stack.urls["compute"] + "/api/v1/tower"
        assert not any("nfrun_" in part for part in argv)
        launch_dir = stack.work_root / "runs" / run["id"]
        assert not (launch_dir / "nfhub.env").exists()
        assert "nfrun_" not in (launch_dir / "console.log").read_text()
        assert "url" not in (launch_dir / "nfhub.config").read_text().split("weblog")[-1]
        # What this module's compute heard: Tower calls with the run's workflow id, all
        # taken; no weblog.
        calls = [
            (entry["method"], entry["path"].rsplit("/", 1)[-1], entry["status"])
            for line in tower_compute.log.read_text().splitlines()
            if line.startswith("{") and (entry := json.loads(line)).get("event") == "request"
            and ("/tower/trace/" in entry["path"] or entry["path"].endswith("/events"))
        ]  # fmt: skip
        steps = [step for _, step, _ in calls]
        assert steps[:2] == ["create", "begin"] and steps[-1] == "complete", calls
        assert "progress" in steps and {status for *_, status in calls} == {200}, calls
