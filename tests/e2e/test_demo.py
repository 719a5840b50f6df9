"""`make demo` (``nfhub demo``) is an end-to-end test: the whole path over real HTTPS against a
running stack, with the stack description make run writes (URLs, the CA, the demo user)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.live import LiveStack

pytestmark = pytest.mark.timeout(300)
NFHUB = Path(sys.executable).with_name("nfhub")


def test_demo_walks_the_whole_path(
    https_stack: LiveStack, stack_password: str, tmp_path: Path
) -> None:
    assert https_stack.tls is not None
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(
        json.dumps(
            {
                "services": https_stack.urls,
                "ca_file": str(https_stack.tls.ca_cert),
                "seed": {"user": "live", "password": stack_password, "org_id": https_stack.org_id},
            }
        )
    )
    began = time.monotonic()
    result = subprocess.run(
        [str(NFHUB), "demo", "--stack", str(stack_file), "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env={**os.environ, "COLUMNS": "200", "NFHUB_CONFIG_DIR": str(tmp_path / "config")},
        cwd=tmp_path,
    )
    elapsed = time.monotonic() - began
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    for step in (
        "log in as live", "upload two FASTQ files", "register a subject", "register its sample",
        "place an order", "download the order's samplesheet", "move the order to analyzing",
        "watch the run", "list the run's outputs", "download them",
    ):  # fmt: skip
        assert step in out, f"step {step!r} missing:\n{out}"
    assert "COMPLETE" in out and "demo done in" in out
    assert "DEMO1," in out  # the samplesheet's row, printed
    saved = [p for p in (tmp_path / "demo-outputs").rglob("*") if p.is_file()]
    assert saved, "no output was downloaded"
    assert all(p.stat().st_size > 0 for p in saved)
    # The demo keeps nothing in the user's CLI config.
    assert not (tmp_path / "config").exists()
    assert elapsed < 120, f"the demo took {elapsed:.1f} s"
