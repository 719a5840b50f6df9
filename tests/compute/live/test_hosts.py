"""Workers on two hosts: two worker processes with different host identities and work roots
on this machine, the API with a work root of its own (it reads no launch folder)."""

from __future__ import annotations

import json
import shutil
import signal
from typing import Any

import pytest

from support.live import LiveStack, Process, wait_until

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
HOSTS = ("host-a", "host-b")

pytestmark = pytest.mark.timeout(300)


def start_host_worker(stack: LiveStack, host: str, name: str | None = None) -> Process:
    worker = stack.start_worker(
        name or f"worker-{host}",
        worker_host=host,
        work_root=stack.root / host,
        worker_heartbeat_seconds=0.5,
        worker_deadline_seconds=3,
        # Two runs at once per host: four runs launched together go to both hosts.
        max_active_runs=2,
    )
    wait_until(
        lambda: '"worker started"' in worker.log.read_text(),
        timeout=30,
        what=f"{worker.name} to start",
    )
    return worker


def launch(stack: LiveStack, **params: Any) -> dict[str, Any]:
    with stack.client("compute") as compute:
        response = compute.post(
            "/api/v1/runs",
            json={"pipeline": "hello", "input": {"path": "sheets/two.csv"}, "params": params},
            headers=stack.headers,
        )
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def log(stack: LiveStack, run_id: str, **params: Any) -> dict[str, Any]:
    with stack.client("compute") as compute:
        response = compute.get(f"/api/v1/runs/{run_id}/log", params=params, headers=stack.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def owner_of(stack: LiveStack, run_id: str) -> str:
    """The host whose work root holds the run's launch folder."""
    hosts = [host for host in HOSTS if (stack.root / host / "runs" / run_id).is_dir()]
    assert len(hosts) == 1, hosts
    return hosts[0]


def finished_by(worker: Process) -> set[str]:
    """The runs this worker's reconciler ended."""
    ended = set()
    for line in worker.log.read_text().splitlines():
        if '"run finished"' in line:
            ended.add(json.loads(line)["run_id"])
    return ended


class TestTwoHosts:
    def test_each_host_watches_and_finishes_its_own_runs_and_ships_their_logs(
        self, stack: LiveStack
    ) -> None:
        workers = {host: start_host_worker(stack, host) for host in HOSTS}
        try:
            # The first runs long enough to be read while it runs.
            runs = [launch(stack, task_seconds=5)] + [
                launch(stack, task_seconds=1) for _ in range(3)
            ]
            first = runs[0]["id"]
            stack.wait_state(first, {"RUNNING"})
            # While it runs, its log reaches the API from the database.
            live = wait_until(
                lambda: (page := log(stack, first))["count"] > 0 and page,
                timeout=30,
                what="a live log",
            )
            assert stack.run(first)["state"] == "RUNNING"
            done = [stack.wait_state(run["id"], TERMINAL, timeout=120) for run in runs]
        finally:
            stopped = [worker.stop() for worker in workers.values()]
        assert stopped == [0, 0]
        assert [run["state"] for run in done] == ["COMPLETE"] * 4, done
        assert "nextflow.cli.Launcher" in live["lines"][0]
        owners = {run["id"]: owner_of(stack, run["id"]) for run in runs}
        for host, worker in workers.items():
            mine = {run_id for run_id, owner in owners.items() if owner == host}
            assert finished_by(worker) == mine, (host, owners)
        assert set(owners.values()) == set(HOSTS), "both hosts took runs"
        assert all(stack.launches()[run["nextflow_run_name"]] == 1 for run in done)

        # The launch folders go (another host's disk, say): the logs stay readable.
        for host in HOSTS:
            shutil.rmtree(stack.root / host / "runs")
        for run in runs:
            nextflow = log(stack, run["id"], limit=5000)
            console = log(stack, run["id"], source="console")
            assert nextflow["count"] > 0 and "nextflow.cli.Launcher" in nextflow["lines"][0]
            assert "all processes finished" in nextflow["lines"][-1], nextflow
            assert console["count"] > 0

    def test_a_killed_hosts_runs_go_unknown_and_end_right_when_it_comes_back(
        self, stack: LiveStack
    ) -> None:
        # Worker names of this test's own: each name's log file is kept across the module.
        host_a = start_host_worker(stack, "host-a", name="lost-host-a")
        # One to complete; one, long, canceled while its host is gone.
        runs = [launch(stack, task_seconds=6), launch(stack, task_seconds=30)]
        for run in runs:
            stack.wait_state(run["id"], {"RUNNING"})
        host_b = start_host_worker(stack, "host-b", name="lost-host-b")
        try:
            host_a.stop(signal.SIGKILL)
            lost = [stack.wait_state(run["id"], {"UNKNOWN"}, timeout=30) for run in runs]
            # Nextflow goes on posting events (its tasks move on): they do not make the run
            # look watched again.
            still = wait_until(
                lambda: (now := stack.run(runs[0]["id"]))["tasks"] != lost[0]["tasks"] and now,
                timeout=60,
                what="a task event after the host was lost",
            )
            # The cancel is recorded; only host-a can carry it out.
            with stack.client("compute") as compute:
                canceled = compute.post(f"/api/v1/runs/{runs[1]['id']}/cancel",
                                        headers=stack.headers)  # fmt: skip
            back = start_host_worker(stack, "host-a", name="lost-host-a-again")
            try:
                done = [stack.wait_state(run["id"], TERMINAL, timeout=120) for run in runs]
            finally:
                back.stop()
        finally:
            host_b.stop()
        for run in lost:
            reason = run["state_reason"]
            assert "No worker of host host-a has sent a heartbeat for over 3 s" in reason
        assert still["state"] == "UNKNOWN"
        assert canceled.status_code == 202 and canceled.json()["state"] == "CANCELING"
        assert [run["state"] for run in done] == ["COMPLETE", "CANCELED"], done
        assert done[0]["tasks"]["succeeded"] == 3
        assert done[1]["exit_code"] == 143  # Nextflow stopped by SIGTERM, from host-a
        assert {owner_of(stack, run["id"]) for run in runs} == {"host-a"}
        assert finished_by(back) == {run["id"] for run in runs}
        assert not finished_by(host_b)
        assert all(stack.launches()[run["nextflow_run_name"]] == 1 for run in done)
