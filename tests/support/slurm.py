"""The session's real single-node Slurm (nfhub_shared.testing.slurm starts it).

One cluster per test session, on ports from this worker's block. Every Slurm test is in the
xdist group "slurm" (tests/conftest.py), so one worker runs them all and one controller serves
them. Without Slurm's binaries or root the tests skip, and fail in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from nfhub_shared.testing.slurm import SlurmCluster, running_cluster, unavailable, write_conf
from support.ports import free_ports
from support.require import require_or_skip

__all__ = ["SlurmCluster", "dead_controller_conf", "slurm"]


def dead_controller_conf(root: Path) -> Path:
    """A slurm.conf naming a controller nobody started."""
    first = free_ports(2)
    return write_conf(root, (first, first + 1))


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """The session's Slurm; SLURM_CONF points at it for the code under test."""
    reason = unavailable()
    if reason is not None:
        require_or_skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    first = free_ports(2)
    with running_cluster(root, (first, first + 1)) as cluster:
        previous = os.environ.get("SLURM_CONF")
        os.environ["SLURM_CONF"] = str(cluster.conf)
        try:
            yield cluster
        finally:
            if previous is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = previous
