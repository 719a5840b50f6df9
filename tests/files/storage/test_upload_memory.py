"""UploadMemory, the bound on what all uploads hold: first come, first served; nothing lost to
a cancelled or timed-out wait; a wait never longer than its limit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from nfhub_files.config import Settings
from nfhub_files.storage.factory import create_storage
from nfhub_files.storage.upload_memory import UploadMemory


async def settle() -> None:
    """Let every ready task run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_room_is_granted_in_the_order_it_was_asked_for() -> None:
    memory = UploadMemory(100)
    await memory.take(60)
    granted: list[int] = []

    async def take(size: int) -> None:
        await memory.take(size)
        granted.append(size)

    big, small = asyncio.create_task(take(50)), asyncio.create_task(take(10))
    await settle()
    waiting = list(granted)
    memory.give_back(60)
    await asyncio.gather(big, small)

    assert waiting == []  # 10 would have fit, but 50 asked first
    assert granted == [50, 10]
    assert (memory.held, memory.waits) == (60, 2)


async def test_with_nothing_held_a_read_bigger_than_the_bound_moves() -> None:
    memory = UploadMemory(10)

    assert memory.try_take(50)
    assert not memory.try_take(1)
    assert memory.held == 50


async def test_a_cancelled_wait_takes_nothing_and_keeps_no_one_waiting() -> None:
    memory = UploadMemory(100)
    await memory.take(100)
    cancelled = asyncio.create_task(memory.take(50))
    await settle()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    after = asyncio.create_task(memory.take(50))
    await settle()

    memory.give_back(100)
    await after

    assert memory.held == 50


async def test_a_cancelled_wait_no_longer_holds_back_a_read_that_fits() -> None:
    memory = UploadMemory(100)
    await memory.take(60)
    cancelled = asyncio.create_task(memory.take(50))  # does not fit: waits
    await settle()
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled

    assert memory.try_take(30)  # first in line now, and it fits
    assert memory.held == 90


async def test_room_granted_to_an_upload_cancelled_before_it_ran_is_given_back() -> None:
    memory = UploadMemory(100)
    await memory.take(100)
    waiter = asyncio.create_task(memory.take(50))
    await settle()

    memory.give_back(100)  # grants the 50 ...
    waiter.cancel()  # ... to a task cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert memory.held == 0
    assert memory.try_take(100)


async def test_a_wait_past_its_limit_takes_the_room_anyway() -> None:
    memory = UploadMemory(100, wait_seconds=0.05)
    await memory.take(100)  # held by an upload whose client went quiet
    started = time.monotonic()

    await memory.take(50)

    assert 0.04 <= time.monotonic() - started < 2
    assert (memory.held, memory.overdrafts) == (150, 1)
    memory.give_back(150)
    assert memory.try_take(100)  # the timed-out waiter does not block the next one


def test_the_bound_comes_from_the_settings(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, LOCAL_ROOT=tmp_path, LOCAL_UPLOAD_MEMORY_BYTES=32 * 1024**2)

    storage = create_storage(settings)

    assert storage.upload_memory.limit == 32 * 1024**2  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match="LOCAL_UPLOAD_MEMORY_BYTES"):
        Settings(_env_file=None, LOCAL_UPLOAD_MEMORY_BYTES=1000)
