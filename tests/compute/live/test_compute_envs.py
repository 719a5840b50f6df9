"""Runs in a compute environment of their own, end to end: a worker process, the nextflow
stand-in, the environment's folders, config, variables, scripts and limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.live import LiveStack

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}

pytestmark = pytest.mark.timeout(300)


def create_env(stack: LiveStack, root: Path, **body: Any) -> dict[str, Any]:
    for folder in (root / "work", root / "launch"):
        folder.mkdir(parents=True)
    payload = {
        "backend": "local", "work_dir": str(root / "work"), "launch_dir": str(root / "launch"),
        **body,
    }  # fmt: skip
    with stack.client("compute") as compute:
        created = compute.post("/api/v1/compute-envs", json=payload, headers=stack.headers)
        assert created.status_code == 201, created.text
        checked = compute.post(
            f"/api/v1/compute-envs/{created.json()['id']}/validate", headers=stack.headers
        )
    env: dict[str, Any] = checked.json()
    assert env["status"] == "AVAILABLE", env
    return env


def launch(stack: LiveStack, env_id: str, **params: Any) -> dict[str, Any]:
    payload = {
        "pipeline": "hello", "input": {"path": "sheets/one.csv"}, "params": params,
        "compute_env_id": env_id,
    }  # fmt: skip
    with stack.client("compute") as compute:
        response = compute.post("/api/v1/runs", json=payload, headers=stack.headers)
    assert response.status_code == 201, response.text
    run: dict[str, Any] = response.json()
    return run


class TestARunInAnEnvironment:
    def test_it_runs_in_the_environments_folders_with_its_config_variables_and_scripts(
        self, stack: LiveStack, tmp_path: Path
    ) -> None:
        root = tmp_path / "env"
        env = create_env(
            stack, root, name="live-scratch",
            nextflow_config="process.cpus = 1 // from the environment\n",
            env_vars={"LIVE_MARK": "set-by-the-env"},
            pre_run_script='echo "$LIVE_MARK" > pre.txt\n',
            post_run_script='echo "$NFHUB_EXIT_CODE" > post.txt\n',
        )  # fmt: skip
        worker = stack.start_worker()
        try:
            run = launch(stack, env["id"])
            done = stack.wait_state(run["id"], TERMINAL)
        finally:
            worker.stop()

        assert done["state"] == "COMPLETE", done
        assert done["compute_env_id"] == env["id"]
        launch_dir, work_dir = root / "launch" / run["id"], root / "work" / run["id"]
        invocation = [
            json.loads(line)
            for line in stack.invocations.read_text().splitlines()
            if done["nextflow_run_name"] in line
        ]
        assert len(invocation) == 1
        argv = invocation[0]["argv"]
        assert invocation[0]["cwd"] == str(launch_dir)
        assert argv[argv.index("-work-dir") + 1] == str(work_dir)
        assert any(work_dir.iterdir()), "the tasks' folders are in the environment's work dir"
        config = (launch_dir / argv[argv.index("-c") + 1]).read_text()
        assert config.index("process.cpus = 1 // from the environment") < config.index("weblog {")
        assert (launch_dir / "pre.txt").read_text() == "set-by-the-env\n"
        assert (launch_dir / "post.txt").read_text() == "0\n"
        assert not (stack.work_root / "runs" / run["id"]).exists()
        with stack.client("compute") as compute:
            log = compute.get(
                f"/api/v1/runs/{run['id']}/log", params={"source": "console"},
                headers=stack.headers,
            ).json()  # fmt: skip
        assert log["count"] > 0 and "nfhub launcher: running the pre-run script" in log["lines"]

    def test_max_active_runs_makes_the_next_run_wait_queued(
        self, stack: LiveStack, tmp_path: Path
    ) -> None:
        env = create_env(stack, tmp_path / "one-at-a-time", name="live-one", max_active_runs=1)
        worker = stack.start_worker()
        try:
            first = launch(stack, env["id"], task_seconds=1)
            second = launch(stack, env["id"], task_seconds=0)
            ended = [stack.wait_state(run["id"], TERMINAL) for run in (first, second)]
        finally:
            worker.stop()

        assert [run["state"] for run in ended] == ["COMPLETE", "COMPLETE"]
        assert ended[1]["initializing_at"] >= ended[0]["finished_at"]
