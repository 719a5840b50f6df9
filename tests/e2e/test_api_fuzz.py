"""Schemathesis against every service over real HTTP: each service's OpenAPI document and its
behaviour agree. No input a client can send gets a 500; every answer is a status, content type,
body and headers the document lists; what the document allows is accepted and what it forbids
is refused; a 405 names the path's methods in Allow.

It found a 500 for a non-ASCII weblog token, one for a date that is year 0 in UTC, OPTIONS
answers naming one method of several, null refused where the schema offered it, numbers read as
dates. The few refusals of schema-valid input no schema can express (a pipeline that does not
exist, a date in the future) are listed, with reasons, in schemathesis.toml beside this file.

A stack of its own (plain HTTP, rate limits on but far above what the run sends), since the
generated calls delete and revoke what they find: one stack per service, each in an xdist
group of its own, so the four runs go side by side on different workers. Deterministic
generation and a bound per operation, so a run makes the same calls every time.

What a run costs is schemathesis' own work (generating cases, checking answers) more than the
services', so it does none it need not: hypothesis' Unicode tables (built by a pass over
every code point) are kept in pytest's cache between runs rather than rebuilt in each run's
fresh folder (deterministic generation keeps no examples there); no report file is written
(the failures, each with a curl command, are in the assertion message); and no proxy lookup
is made per request for the local stack.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.live import LiveStack, live_stack

pytestmark = pytest.mark.timeout(300)
SERVICES = ("files", "miner", "compute", "admin")
# Each service with the ones it calls, and no more: fewer processes to start on a busy machine.
NEEDS = {
    "admin": ("admin",),
    "files": ("admin", "files"),
    "compute": ("admin", "files", "compute"),
    "miner": ("admin", "files", "compute", "miner"),
}
CONFIG = Path(__file__).with_name("schemathesis.toml")
EXAMPLES_PER_OPERATION = 10
SEED = 20261203
# The limiter runs (its 429 is documented on every limited route) but never refuses the run.
UNREACHABLE_LIMITS = {
    "RATE_LIMIT_ENABLED": "true",
    "RATE_LIMIT_READ": "1000000",
    "RATE_LIMIT_WRITE": "1000000",
    "RATE_LIMIT_AUTH": "1000000",
    "RATE_LIMIT_LOGIN_FAILURES": "1000000",
}


@pytest.fixture
def fuzz_stack(
    service: str, nfhub_fresh_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with (
        nfhub_fresh_database() as database_url,
        live_stack(
            tmp_path_factory.mktemp("fuzz-stack"),
            database_url,
            NEEDS[service],
            extra_env=UNREACHABLE_LIMITS,
        ) as running,
    ):
        yield running


@pytest.fixture(scope="session")
def hypothesis_storage(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Where hypothesis keeps its Unicode tables: pytest's cache, else this session's."""
    cache = getattr(request.config, "cache", None)
    if cache is None:  # -p no:cacheprovider
        return tmp_path_factory.mktemp("hypothesis")
    folder: Path = cache.mkdir("hypothesis")
    return folder


@pytest.mark.parametrize(
    "service",
    [pytest.param(name, marks=pytest.mark.xdist_group(f"fuzz-{name}")) for name in SERVICES],
)
def test_each_answer_is_what_the_document_says(
    fuzz_stack: LiveStack, service: str, hypothesis_storage: Path, tmp_path: Path
) -> None:
    token = fuzz_stack.new_token(f"fuzz {service}")
    url = fuzz_stack.urls[service]
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG),
        "run", f"{url}/openapi.json",
        "-H", f"Authorization: Bearer {token}",
        "-H", f"X-Project-ID: {fuzz_stack.project_id}",
        "--checks", "all",
        "--phases", "coverage,fuzzing",
        "--max-examples", str(EXAMPLES_PER_OPERATION),
        "--seed", str(SEED),
        "--generation-deterministic",
        "--continue-on-failure",
        "--workers", "1",
        "--no-color",
        "--output-truncate", "false",
    ]  # fmt: skip
    env = {
        **os.environ,
        "HYPOTHESIS_STORAGE_DIRECTORY": str(hypothesis_storage),
        # Else requests searches the whole environment for a proxy at every request.
        "NO_PROXY": "127.0.0.1",
    }
    # In tmp_path: anything else schemathesis keeps goes to its working directory.
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280
    )

    assert "Tested:" in result.stdout, result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, result.stdout[-12000:]
