"""compute in-process, with admin and files in-process behind it (tests/support/inprocess.py)."""

from collections.abc import Iterator
from typing import Any

import pytest

from support.inprocess import (
    admin_settings,
    compute_app,
    compute_client,
    compute_settings,
    fake_nextflow_on_path,
    files_app,
    hello,
    launch,
    reconciler,
    register_pipeline,
    set_run,
    storage_root,
    team,
)
from support.slurm import slurm

__all__ = [
    "admin_settings",
    "compute_app",
    "compute_client",
    "compute_settings",
    "fake_nextflow_on_path",
    "files_app",
    "hello",
    "launch",
    "reconciler",
    "register_pipeline",
    "set_run",
    "slurm",
    "storage_root",
    "team",
]


@pytest.fixture(scope="module")
def database_url(nfhub_fresh_database: Any) -> Iterator[str]:
    """A database of the module's own, for the tests that commit from several connections at
    once (locks, group commit) and so cannot run inside one rolled-back test transaction."""
    with nfhub_fresh_database() as url:
        yield url
