"""flock-based locks on a multipart upload's staging files, waited for without a thread."""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from pathlib import Path

import anyio

from nfhub_files.storage.errors import ObjectNotFound, UploadBusy

# How long a part's PUT or a completion waits for the lock another request holds.
LOCK_WAIT_SECONDS = 30.0
LOCK_POLL_SECONDS = 0.05


async def hold_lock(path: Path, mode: int, *, busy: str, gone: str, create: bool = False) -> int:
    """An open descriptor of ``path`` holding a ``flock`` (shared or exclusive); closing it lets
    go. Waited for without a thread, by polling, for up to LOCK_WAIT_SECONDS, then a 409
    (``busy``); a ``path`` that is not there is a 404 (``gone``)."""
    flags = os.O_RDONLY | (os.O_CREAT if create else 0)
    try:
        descriptor = await anyio.to_thread.run_sync(os.open, path, flags, 0o600)
    except FileNotFoundError as exc:
        raise ObjectNotFound(gone) from exc
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    try:
        while True:
            try:
                fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
                return descriptor
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UploadBusy(busy) from None
                await asyncio.sleep(LOCK_POLL_SECONDS)
    except BaseException:
        os.close(descriptor)
        raise
