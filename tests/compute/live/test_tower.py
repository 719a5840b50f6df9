"""A Nextflow run by hand, not launched by nfhub, reporting with -with-tower to a live stack:
the nextflow stand-in speaks Nextflow's Tower client protocol (tests/fakes/nextflow_tower.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.live import LiveStack

FAKE = Path(__file__).resolve().parents[2] / "fakes" / "nextflow"

pytestmark = pytest.mark.timeout(300)


def workspace_id(stack: LiveStack) -> int:
    with stack.client("admin") as admin:
        response = admin.get(f"/api/v1/projects/{stack.project_id}", headers=stack.headers)
    assert response.status_code == 200, response.text
    value: int = response.json()["workspace_id"]
    return value


def runs(stack: LiveStack) -> list[dict[str, Any]]:
    with stack.client("compute") as compute:
        response = compute.get("/api/v1/runs", headers=stack.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [run for run in items if run["source"] == "external"]


def nextflow_by_hand(
    stack: LiveStack, cwd: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`nextflow run nf-core/rnaseq -r 3.14.0 -with-tower <compute>/api/v1/tower …` as a user
    types it on their own machine: nfhub launches nothing."""
    command = [sys.executable, str(FAKE), "run", "nf-core/rnaseq", "-r", "3.14.0",
               "-with-tower", stack.urls["compute"] + "/api/v1/tower", *args]  # fmt: skip
    environment = {"PATH": os.environ["PATH"], "HOME": str(cwd), **env}
    if "SSL_CERT_FILE" in stack.env:
        environment["SSL_CERT_FILE"] = stack.env["SSL_CERT_FILE"]
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


class TestTowerReports:
    def test_a_run_started_by_hand_appears_as_an_external_run_with_tasks(
        self, stack: LiveStack, tmp_path: Path
    ) -> None:
        before = len(runs(stack))

        done = nextflow_by_hand(
            stack,
            tmp_path,
            "-name",
            "by_hand",
            TOWER_ACCESS_TOKEN=stack.token,
            TOWER_WORKSPACE_ID=str(workspace_id(stack)),
        )

        assert done.returncode == 0, done.stderr
        assert "Monitor the execution with Seqera Platform using this URL: " in done.stdout
        reported = runs(stack)
        assert len(reported) == before + 1
        run = next(run for run in reported if run["nextflow_run_name"] == "by_hand")
        assert (run["state"], run["channel"], run["pipeline"]) == ("COMPLETE", "tower", None)
        assert run["revision"] == "3.14.0"
        assert run["command_line"].startswith("nextflow run nf-core/rnaseq -r 3.14.0")
        assert run["tasks"]["total"] == 2
        with stack.client("compute") as compute:
            tasks = compute.get(f"/api/v1/runs/{run['id']}/tasks", headers=stack.headers).json()
        assert {task["status"] for task in tasks["items"]} == {"COMPLETED"}
        assert all(task["complete_at"] for task in tasks["items"])
        assert f"/api/v1/runs/{run['id']}" in done.stdout

    @pytest.mark.parametrize(
        ("case", "error"),
        [
            ("wrong token", "Unauthorized Seqera Platform API access"),
            ("no such workspace", "is not an nfhub project you can report runs into"),
            ("no workspace", "set tower.workspaceId"),
        ],
    )
    def test_a_refused_report_aborts_nextflow_and_records_nothing(
        self, stack: LiveStack, tmp_path: Path, case: str, error: str
    ) -> None:
        before = runs(stack)
        env = {"TOWER_ACCESS_TOKEN": stack.token, "TOWER_WORKSPACE_ID": str(workspace_id(stack))}
        if case == "wrong token":
            env["TOWER_ACCESS_TOKEN"] = "nfh_pat_" + "x" * 43
        elif case == "no such workspace":
            env["TOWER_WORKSPACE_ID"] = str(2**62)
        else:
            del env["TOWER_WORKSPACE_ID"]

        done = nextflow_by_hand(stack, tmp_path, **env)

        assert done.returncode == 1, done.stdout
        assert error in done.stderr
        assert stack.token not in done.stderr + done.stdout
        assert runs(stack) == before
