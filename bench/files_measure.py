"""What bench/files.py measures with: a source file, and a clock that counts until the bytes
are on the disk."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

CHUNK = 1024 * 1024


def write_source(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(block)


def flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def timed(step: Callable[[], object], target: Path | None = None) -> tuple[float, float]:
    """Seconds until ``step`` returned (its file in the page cache), and until ``target`` was
    also flushed to the disk."""
    started = time.perf_counter()
    step()
    cached = time.perf_counter() - started
    if target is not None:
        flush(target)
    return cached, time.perf_counter() - started
