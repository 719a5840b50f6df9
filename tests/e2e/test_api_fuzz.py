"""Schemathesis against every service over real HTTP: no input a client can send gets a 500,
and every answer is a status, content type and body that the service's OpenAPI document lists.

It found a 500 for a non-ASCII weblog token and one for a date that is year 0 in UTC; this
keeps such inputs, and the documents' honesty, checked. A stack of its own (plain HTTP, rate
limits off), since the generated calls delete and revoke what they find: one stack per
service, each in an xdist group of its own, so the four runs (minutes each) go side by side on
different workers. Seeded and bounded per operation, so a run makes the same calls every time.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.live import LiveStack, live_stack

pytestmark = pytest.mark.timeout(300)
SERVICES = ("files", "miner", "compute", "admin")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance"
)
EXAMPLES_PER_OPERATION = 25
SEED = 20261203


@pytest.fixture
def fuzz_stack(
    nfhub_fresh_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with (
        nfhub_fresh_database() as database_url,
        live_stack(tmp_path_factory.mktemp("fuzz-stack"), database_url) as running,
    ):
        yield running


@pytest.mark.parametrize(
    "service",
    [pytest.param(name, marks=pytest.mark.xdist_group(f"fuzz-{name}")) for name in SERVICES],
)
def test_generated_requests_get_documented_answers_and_no_500(
    fuzz_stack: LiveStack, service: str, tmp_path: Path
) -> None:
    token = fuzz_stack.new_token(f"fuzz {service}")
    url = fuzz_stack.urls[service]
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
        "-H", f"Authorization: Bearer {token}",
        "-H", f"X-Project-ID: {fuzz_stack.project_id}",
        "--checks", CHECKS,
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", str(SEED),
        "--workers", "1",
        "--no-color",
        "--output-truncate", "false",
    ]  # fmt: skip
    # In tmp_path: schemathesis keeps a cache of what it found in its working directory.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=280)

    assert "Tested:" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-12000:]
