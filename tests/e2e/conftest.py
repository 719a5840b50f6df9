"""The stack as ``make run`` serves it, for the tests that use it as a user would (the demo,
the nfhub CLI, the docs pages and the web app in a browser): every service under uvicorn over
HTTPS with a dev CA, the shipped catalog (the demo pipeline), a compute worker, one per test
session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from support.live import PASSWORD, REPO, LiveStack, live_stack

CATALOG = REPO / "pipelines" / "catalog.yaml"


@pytest.fixture(scope="session")
def https_stack(
    nfhub_fresh_database: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    with (
        nfhub_fresh_database() as database_url,
        live_stack(
            tmp_path_factory.mktemp("https-stack"),
            database_url,
            ("admin", "files", "compute", "miner", "web"),
            tls=True,
            extra_env={"COMPUTE_CATALOG_FILE": str(CATALOG)},
        ) as running,
    ):
        worker = running.start_worker()
        yield running
        worker.stop()


@pytest.fixture(scope="session")
def stack_password() -> str:
    """The password of the stack's first user (``live``)."""
    return PASSWORD
