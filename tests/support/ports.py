"""Ports for the servers tests start (uvicorn stacks, moto, make run's devstack).

Each xdist worker takes its ports from a block of its own, below Linux's ephemeral range
(32768-60999) so that no ``bind(("", 0))`` anywhere hands one out: two workers never race for
the same port. A free port is one that binds now; the start inside the block is random, so two
test sessions side by side rarely even look at the same ports.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

FIRST_PORT = 20000
BLOCK_SIZE = 500
MAX_WORKERS = (32768 - FIRST_PORT) // BLOCK_SIZE

_offsets = itertools.count(random.randrange(BLOCK_SIZE))


def worker_index() -> int:
    """0 for ``gw0`` (and a run without xdist), 1 for ``gw1``, …"""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name.removeprefix("gw")) if name.startswith("gw") else 0
    return index % MAX_WORKERS


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive free ports of this worker's block."""
    base = FIRST_PORT + worker_index() * BLOCK_SIZE
    for _ in range(BLOCK_SIZE):
        first = base + next(_offsets) % (BLOCK_SIZE - count + 1)
        if all(_bindable(port) for port in range(first, first + count)):
            for _ in range(count - 1):  # the next caller starts after this range
                next(_offsets)
            return first
    raise AssertionError(f"no {count} free ports in {base}-{base + BLOCK_SIZE - 1}")


def free_port() -> int:
    return free_ports(1)
