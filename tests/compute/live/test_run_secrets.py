"""The weblog secret of a run is shown to nobody: not in any API answer a project viewer can
read, not on Nextflow's command line (which every local user sees with ps), not in its log.

The weblog URL (with the run's secret) goes into the run's own nfhub.config, mode 0600; the
stand-in reads it there exactly as Nextflow does (``weblog.enabled`` / ``weblog.url``).
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from support.live import LiveStack

TERMINAL = {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"}

pytestmark = pytest.mark.timeout(300)


def weblog_secret(launch_dir: Path) -> str:
    config = (launch_dir / "nfhub.config").read_text()
    found = re.search(r"url = '([^']+)'", config)
    assert found, config
    token = re.search(r"token=([^&]+)", found.group(1))
    assert token, found.group(1)
    return token.group(1)


def test_no_answer_log_or_command_line_shows_the_weblog_secret(stack: LiveStack) -> None:
    worker = stack.start_worker()
    try:
        with stack.client("compute") as compute:
            response = compute.post(
                "/api/v1/runs",
                json={"pipeline": "hello", "input": {"path": "sheets/one.csv"}},
                headers=stack.headers,
            )
        assert response.status_code == 201, response.text
        run_id = response.json()["id"]
        finished = stack.wait_state(run_id, TERMINAL, timeout=90)
    finally:
        worker.stop()
    assert finished["state"] == "COMPLETE", finished

    launch_dir = stack.work_root / "runs" / run_id
    secret = weblog_secret(launch_dir)
    assert len(secret) >= 16
    assert stat.S_IMODE((launch_dir / "nfhub.config").stat().st_mode) == 0o600
    # The weblog really reached compute through the config (tasks came in live).
    assert finished["workflow_started_at"] is not None, finished

    answers = stack.answers_about(run_id)
    assert [answer for answer in answers if secret in answer] == []
    nextflow_log = (launch_dir / ".nextflow.log").read_text()
    command_lines = [line for line in nextflow_log.splitlines() if "$> nextflow" in line]
    assert command_lines, "the stand-in logs its command line as Nextflow does"
    assert not [line for line in command_lines if "with-weblog" in line or secret in line]
    assert secret not in nextflow_log
    assert secret not in (launch_dir / "console.log").read_text()
    invocations = stack.invocations.read_text()
    assert secret not in invocations
