"""Runs end to end: the real services over HTTP, a worker process, the nextflow stand-in.

Each test starts its own worker(s) and waits for its runs to end, so the module's shared stack
holds no live run between tests.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.live import LiveStack, wait_until

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}

pytestmark = pytest.mark.timeout(300)


def launch(stack: LiveStack, **body: Any) -> dict[str, Any]:
    payload = {"pipeline": "hello", "input": {"path": "sheets/one.csv"}, **body}
    with stack.client("compute") as compute:
        response = compute.post("/api/v1/runs", json=payload, headers=stack.headers)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


def get(stack: LiveStack, url: str, **params: Any) -> Any:
    with stack.client("compute") as compute:
        response = compute.get(url, params=params, headers=stack.headers)
    assert response.status_code == 200, response.text
    return response.json()


def progress(stack: LiveStack, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = get(stack, f"/api/v1/runs/{run_id}/progress")
    return body


def launcher_pid(stack: LiveStack, run_id: str) -> int:
    handle = json.loads((stack.work_root / "runs" / run_id / "job.json").read_text())
    return int(handle["pid"])


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2] != "Z"


class TestLifecycle:
    def test_a_run_goes_queued_initializing_running_complete_with_outputs(
        self, stack: LiveStack
    ) -> None:
        worker = stack.start_worker()
        try:
            run = launch(stack, params={"task_seconds": 0.4}, input={"path": "sheets/two.csv"})
            assert run["state"] == "QUEUED"
            seen: list[str] = []

            def observe() -> bool:
                state = stack.run(run["id"])["state"]
                if not seen or seen[-1] != state:
                    seen.append(state)
                return state in TERMINAL

            wait_until(observe, timeout=60, interval=0.05, what="the run to end")
        finally:
            stopped = worker.stop()
        assert stopped == 0, "the worker must stop by itself on SIGTERM, not be killed"
        done = stack.run(run["id"])
        assert done["state"] == "COMPLETE", (done, worker.tail())
        assert seen[-1] == "COMPLETE"
        # Every state it passed through is in WES order (polling may skip one, never reorder).
        order = ["QUEUED", "INITIALIZING", "RUNNING", "COMPLETE"]
        assert seen == sorted(seen, key=order.index) and "RUNNING" in seen, seen
        assert done["exit_code"] == 0 and done["workflow_success"] is True
        for stamp in ("initializing_at", "submitted_at", "running_at", "finished_at"):
            assert done[stamp] is not None, stamp
        assert done["session_id"] and done["nextflow_version"] == "24.04.4"
        assert done["tasks"] == {
            "submitted": 0, "running": 0, "succeeded": 3, "failed": 0, "cached": 0,
            "aborted": 0, "total": 3,
        }  # fmt: skip
        per_process = {
            p["process"]: p["succeeded"] for p in progress(stack, run["id"])["processes"]
        }
        assert per_process == {"HELLO:FASTQC": 2, "HELLO:MULTIQC": 1}
        tasks = get(stack, f"/api/v1/runs/{run['id']}/tasks", sort="task_id")
        assert [t["tag"] for t in tasks["items"]] == ["S1", "S2", None]
        assert all(t["peak_rss"] == 62914560 and t["exit_status"] == 0 for t in tasks["items"])

        outputs = get(stack, f"/api/v1/runs/{run['id']}/outputs", path="fastqc")
        names = {item["name"]: item for item in outputs["items"]}
        assert set(names) == {"S1_fastqc.html", "S2_fastqc.html"}
        downloaded = httpx.get(names["S1_fastqc.html"]["download_url"], timeout=10)
        assert downloaded.status_code == 200
        assert b"HELLO:FASTQC (S1)" in downloaded.content
        log = get(stack, f"/api/v1/runs/{run['id']}/log")
        assert log["count"] > 0 and "nextflow.cli.Launcher" in log["lines"][0]
        assert stack.launches()[done["nextflow_run_name"]] == 1

        # Nextflow's report, timeline and DAG are among the outputs, downloadable.
        reports = get(stack, f"/api/v1/runs/{run['id']}/reports")["items"]
        assert [(r["kind"], r["path"]) for r in reports] == [
            ("report", "pipeline_info/execution_report.html"),
            ("timeline", "pipeline_info/execution_timeline.html"),
            ("dag", "pipeline_info/pipeline_dag.html"),
        ]
        report = httpx.get(reports[0]["download_url"], timeout=10)
        assert report.status_code == 200 and b"HELLO:FASTQC (S2)" in report.content
        assert reports[0]["size"] == len(report.content)
        # Each process's resources, from the task rows the weblog filled.
        metrics = get(stack, f"/api/v1/runs/{run['id']}/metrics")
        assert metrics["source"] == "tasks"
        fastqc, multiqc = metrics["processes"]
        assert (fastqc["process"], fastqc["tasks"], multiqc["tasks"]) == ("HELLO:FASTQC", 2, 1)
        assert fastqc["cpu_percent"]["median"] == 98.5
        assert fastqc["cpu_usage"]["median"] == 49.25  # of the 2 CPUs asked for
        assert fastqc["memory_usage"]["max"] == 62914560 * 100 / 2147483648
        assert fastqc["realtime_ms"]["min"] >= 400 and fastqc["time_usage"]["count"] == 2


class TestFailure:
    def test_a_failing_task_ends_the_run_in_executor_error(self, stack: LiveStack) -> None:
        worker = stack.start_worker()
        try:
            run = launch(stack, params={"fail_process": "FASTQC", "exit_code": 3})
            done = stack.wait_state(run["id"], TERMINAL)
        finally:
            worker.stop()
        assert done["state"] == "EXECUTOR_ERROR"
        assert done["exit_code"] == 1
        assert "terminated with an error exit status (3)" in done["state_reason"]
        assert done["tasks"]["failed"] == 1 and done["tasks"]["succeeded"] == 0
        error = done["error"]
        assert error["message"] == (
            "Process `HELLO:FASTQC (S1)` terminated with an error exit status (3)"
        )
        assert (error["task_name"], error["exit_code"]) == ("HELLO:FASTQC (S1)", 3)
        assert error["stderr_tail"][-1] == "fastqc S1: error: cannot process the input (exit 3)"
        with stack.client("compute") as compute:
            stderr = compute.get(error["logs_url"], headers=stack.headers)
        assert stderr.status_code == 200 and stderr.text.endswith("(exit 3)\n")


class TestCancel:
    def test_cancel_mid_run_stops_nextflow_and_ends_canceled(self, stack: LiveStack) -> None:
        worker = stack.start_worker()
        try:
            run = launch(stack, params={"task_seconds": 30})
            stack.wait_state(run["id"], {"RUNNING"})
            wait_until(
                lambda: progress(stack, run["id"])["totals"]["running"] == 1,
                timeout=20,
                what="a running task",
            )
            pid = launcher_pid(stack, run["id"])
            with stack.client("compute") as compute:
                canceled = compute.post(f"/api/v1/runs/{run['id']}/cancel", headers=stack.headers)
            assert canceled.status_code == 202, canceled.text
            assert canceled.json()["state"] == "CANCELING"
            done = stack.wait_state(run["id"], TERMINAL, timeout=30)
        finally:
            worker.stop()
        assert done["state"] == "CANCELED"
        assert done["exit_code"] == 143  # Nextflow's own exit after SIGTERM, not a SIGKILL
        assert not pid_alive(pid)
        assert done["tasks"]["aborted"] == 1
        assert done["workflow_success"] is False

    def test_a_run_that_ignores_sigterm_is_killed_after_the_grace_period(
        self, stack: LiveStack
    ) -> None:
        # The stand-in aborts at its next check; a grace of 0 s leaves it no time to.
        worker = stack.start_worker(cancel_grace_seconds=0)
        try:
            run = launch(stack, params={"task_seconds": 30})
            stack.wait_state(run["id"], {"RUNNING"})
            pid = launcher_pid(stack, run["id"])
            os.killpg(pid, signal.SIGSTOP)  # launcher and Nextflow cannot react to SIGTERM
            with stack.client("compute") as compute:
                compute.post(f"/api/v1/runs/{run['id']}/cancel", headers=stack.headers)
            done = stack.wait_state(run["id"], TERMINAL, timeout=30)
        finally:
            worker.stop()
        assert done["state"] == "CANCELED"
        assert done["exit_code"] is None  # killed: it never got to exit by itself
        assert not pid_alive(pid)

    def test_a_queued_run_is_canceled_at_once_and_never_launched(self, stack: LiveStack) -> None:
        run = launch(stack)  # no worker: it stays QUEUED
        with stack.client("compute") as compute:
            canceled = compute.delete(f"/api/v1/runs/{run['id']}", headers=stack.headers)
        assert canceled.status_code == 202
        assert canceled.json()["state"] == "CANCELED"
        # Queued after it: once the worker has run this one, it has been over the queue
        # (claims go oldest first) and passed the canceled run by. No guessing how long that is.
        witness = launch(stack)
        worker = stack.start_worker()
        try:
            assert stack.wait_state(witness["id"], TERMINAL)["state"] == "COMPLETE"
        finally:
            worker.stop()
        assert stack.run(run["id"])["state"] == "CANCELED"
        assert run["nextflow_run_name"] not in stack.launches()


class TestResume:
    def test_relaunch_with_resume_reuses_the_session_and_caches_finished_tasks(
        self, stack: LiveStack
    ) -> None:
        worker = stack.start_worker()
        try:
            failed = launch(stack, params={"fail_process": "MULTIQC"})
            first = stack.wait_state(failed["id"], TERMINAL)
            assert first["state"] == "EXECUTOR_ERROR"
            with stack.client("compute") as compute:
                response = compute.post(
                    f"/api/v1/runs/{failed['id']}/relaunch",
                    json={"resume": True, "params": {"fail_process": None}},
                    headers=stack.headers,
                )
            assert response.status_code == 201, response.text
            resumed = response.json()
            done = stack.wait_state(resumed["id"], TERMINAL)
        finally:
            worker.stop()
        assert done["state"] == "COMPLETE", done
        assert done["resume"] is True and done["relaunched_from_id"] == failed["id"]
        assert done["session_id"] == first["session_id"]
        assert done["params"] == {}
        assert done["tasks"]["cached"] == 1  # FASTQC, from the trace: no weblog event for it
        assert done["tasks"]["succeeded"] == 1  # MULTIQC, run again
        invocation = [
            json.loads(line)["argv"]
            for line in stack.invocations.read_text().splitlines()
            if done["nextflow_run_name"] in line
        ]
        assert len(invocation) == 1
        argv = invocation[0]
        assert argv[argv.index("-resume") + 1] == first["session_id"]
        first_work = (stack.work_root / "work" / failed["id"]).as_posix()
        assert argv[argv.index("-work-dir") + 1] == first_work

    def test_resume_of_a_run_still_going_is_refused(self, stack: LiveStack) -> None:
        run = launch(stack)  # QUEUED: no worker
        with stack.client("compute") as compute:
            response = compute.post(
                f"/api/v1/runs/{run['id']}/relaunch", json={"resume": True}, headers=stack.headers
            )
            compute.post(f"/api/v1/runs/{run['id']}/cancel", headers=stack.headers)
        assert response.status_code == 409
        assert "can be resumed once it has ended" in response.json()["detail"]


class TestWorkerRestarts:
    def test_a_worker_killed_mid_run_is_replaced_and_the_run_ends_once(
        self, stack: LiveStack
    ) -> None:
        first = stack.start_worker("worker-a")
        run = launch(stack, params={"task_seconds": 1.0}, input={"path": "sheets/two.csv"})
        stack.wait_state(run["id"], {"RUNNING"})
        pid = launcher_pid(stack, run["id"])
        first.stop(signal.SIGKILL)
        assert pid_alive(pid), "the run must outlive its worker"
        second = stack.start_worker("worker-b")
        try:
            done = stack.wait_state(run["id"], TERMINAL)
        finally:
            second.stop()
        assert done["state"] == "COMPLETE"
        assert done["tasks"]["succeeded"] == 3
        assert stack.launches()[done["nextflow_run_name"]] == 1

    def test_a_launcher_that_died_while_no_worker_ran_ends_in_system_error(
        self, stack: LiveStack
    ) -> None:
        first = stack.start_worker("worker-a")
        run = launch(stack, params={"task_seconds": 30})
        stack.wait_state(run["id"], {"RUNNING"})
        pid = launcher_pid(stack, run["id"])
        first.stop(signal.SIGKILL)
        os.killpg(pid, signal.SIGKILL)  # the machine's OOM killer, say: no exit code is left
        wait_until(lambda: not pid_alive(pid), timeout=10, what="the launcher to die")
        second = stack.start_worker("worker-b")
        try:
            done = stack.wait_state(run["id"], TERMINAL)
        finally:
            second.stop()
        assert done["state"] == "SYSTEM_ERROR"
        assert "left no exit code" in done["state_reason"]


# As many runs as the Slurm backend's same test (test_slurm_runs.py): both workers are woken
# by each one and race to claim it, a hundred races per run of the suite.
RACED_RUNS = 100


class TestTwoDispatchers:
    def test_two_workers_submit_each_of_100_queued_runs_exactly_once(
        self, stack: LiveStack
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
            # Both are listening: every new run wakes both, and they race to claim it.
            runs = [launch(stack, params={"task_seconds": 0}) for _ in range(RACED_RUNS)]
            names = {run["nextflow_run_name"] for run in runs}

            def all_ended() -> bool:
                listed = get(stack, "/api/v1/runs", limit=500, state=sorted(TERMINAL))
                ended = {run["nextflow_run_name"] for run in listed["items"]}
                return names <= ended

            wait_until(all_ended, timeout=240, interval=1.0, what=f"{RACED_RUNS} runs to end")
        finally:
            for worker in workers:
                worker.stop()
        launches = stack.launches()
        listed = get(stack, "/api/v1/runs", limit=500)
        odd = [
            (run["state"], run["state_reason"], launches.get(run["nextflow_run_name"], 0))
            for run in listed["items"]
            if run["nextflow_run_name"] in names and launches.get(run["nextflow_run_name"]) != 1
        ]
        assert not odd, odd
        states = {run["state"] for run in listed["items"] if run["nextflow_run_name"] in names}
        assert states == {"COMPLETE"}
        # Both took part: each submitted some of the runs.
        submitted = [worker.log.read_text().count('"run submitted"') for worker in workers]
        assert sum(submitted) == RACED_RUNS and min(submitted) > 0, submitted
