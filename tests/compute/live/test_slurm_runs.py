"""Runs end to end on the real Slurm: the services over HTTP, worker processes with
COMPUTE_BACKEND=slurm, the nextflow stand-in as each run's head job."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import pytest

from support.live import LiveStack, live_stack, wait_until
from support.slurm import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm"), pytest.mark.timeout(300)]

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}
SHEET = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"


@pytest.fixture(scope="module")
def stack(
    nfhub_fresh_database: Any, tmp_path_factory: pytest.TempPathFactory, slurm: SlurmCluster
) -> Iterator[LiveStack]:
    with nfhub_fresh_database() as database_url:
        root = tmp_path_factory.mktemp("live-slurm")
        extra = {"COMPUTE_BACKEND": "slurm", "SLURM_CONF": str(slurm.conf)}
        with live_stack(root, database_url, extra_env=extra) as running:
            running.register_hello()
            running.upload("sheets/one.csv", SHEET)
            yield running


def launch(stack: LiveStack, **params: Any) -> dict[str, Any]:
    body = {"pipeline": "hello", "input": {"path": "sheets/one.csv"}, "params": params}
    with stack.client("compute") as compute:
        response = compute.post("/api/v1/runs", json=body, headers=stack.headers)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def runs(stack: LiveStack) -> dict[str, dict[str, Any]]:
    with stack.client("compute") as compute:
        response = compute.get("/api/v1/runs", params={"limit": 500}, headers=stack.headers)
    assert response.status_code == 200, response.text
    return {run["id"]: run for run in response.json()["items"]}


def jobs_named(slurm: SlurmCluster, run_id: str) -> list[str]:
    found = slurm.run("squeue", "-h", "-t", "all", "-n", f"nfhub-{run_id}", "-o", "%i")
    return found.stdout.split()


def wait_ended(stack: LiveStack, ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    def ended() -> bool:
        listed = runs(stack)
        return all(listed[run_id]["state"] in TERMINAL for run_id in ids)

    wait_until(ended, timeout=timeout, interval=1.0, what=f"{len(ids)} runs to end")
    listed = runs(stack)
    return {run_id: listed[run_id] for run_id in ids}


def test_a_run_goes_initializing_running_complete_and_shows_its_log(
    stack: LiveStack, slurm: SlurmCluster
) -> None:
    worker = stack.start_worker()
    try:
        run = launch(stack, task_seconds=1.0)
        running = stack.wait_state(run["id"], {"RUNNING"})
        done = stack.wait_state(run["id"], TERMINAL)
        with stack.client("compute") as compute:
            log = compute.get(
                f"/api/v1/runs/{run['id']}/log", params={"source": "console"}, headers=stack.headers
            )
    finally:
        worker.stop()

    assert running["backend"] == "slurm"
    assert (done["state"], done["exit_code"]) == ("COMPLETE", 0)
    assert len(jobs_named(slurm, run["id"])) == 1
    assert log.status_code == 200 and "N E X T F L O W" in log.text


def test_a_worker_killed_while_its_runs_go_is_replaced_and_each_run_ends_once(
    stack: LiveStack, slurm: SlurmCluster
) -> None:
    first = stack.start_worker("worker-a")
    ids = [launch(stack, task_seconds=2.0)["id"] for _ in range(4)]
    for run_id in ids:
        stack.wait_state(run_id, {"RUNNING"})
    first.stop(signal.SIGKILL)
    # The head jobs are Slurm's: they go on without the worker.
    assert all(jobs_named(slurm, run_id) for run_id in ids)
    second = stack.start_worker("worker-b")
    try:
        ended = wait_ended(stack, ids, timeout=120)
    finally:
        second.stop()

    assert {run["state"] for run in ended.values()} == {"COMPLETE"}, ended
    launches = stack.launches()
    assert [launches[run["nextflow_run_name"]] for run in ended.values()] == [1] * 4
    assert [len(jobs_named(slurm, run_id)) for run_id in ids] == [1] * 4


def test_two_workers_submit_each_of_100_runs_exactly_once(
    stack: LiveStack, slurm: SlurmCluster
) -> None:
    workers = [
        stack.start_worker(f"dispatcher-{n}", max_active_runs=400, dispatch_poll_seconds=0.2)
        for n in range(2)
    ]
    try:
        for worker in workers:
            wait_until(
                lambda w=worker: '"worker started"' in w.log.read_text(),
                timeout=30,
                what=f"{worker.name} to start",
            )
        ids = [launch(stack, task_seconds=0)["id"] for _ in range(100)]
        ended = wait_ended(stack, ids, timeout=240)
    finally:
        for worker in workers:
            worker.stop()

    launches = stack.launches()
    odd = [
        (run["state"], run["state_reason"], launches.get(run["nextflow_run_name"], 0))
        for run in ended.values()
        if run["state"] != "COMPLETE" or launches.get(run["nextflow_run_name"]) != 1
    ]
    assert not odd, odd
    assert [len(jobs_named(slurm, run_id)) for run_id in ids] == [1] * 100
    submitted = [worker.log.read_text().count('"run submitted"') for worker in workers]
    assert sum(submitted) == 100 and min(submitted) > 0, submitted
