"""The memory all uploads of one files process hold at once, received and not yet written.

Each upload through the local backend holds up to two write buffers (one filling while the
last is written): 8 MiB. Without a bound, a hundred parts sent at once would hold 800 MiB.
Past the bound an upload writes what it holds and reads no more of its body until written
bytes free room, so its client is slowed by TCP's flow control, not refused.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


class UploadMemory:
    """Bytes taken as they are received and given back once they are written.

    Only the event loop's thread takes and gives back (a write's thread hands its bytes back
    through its future's callback), so nothing needs a lock. An upload that cannot take room
    first hands its partial buffer to the writer, so what it waits for is being written.
    Bytes can also be held by an upload whose client went quiet mid-buffer: a wait longer
    than ``wait_seconds`` therefore takes the room anyway (counted as an overdraft), so that
    quiet clients slow others down but never stop them. With nothing held, any amount is
    granted (a single read bigger than the bound still moves).
    """

    def __init__(self, limit: int, *, wait_seconds: float = 5.0) -> None:
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.held = 0
        self.waits = 0
        self.overdrafts = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    def try_take(self, size: int) -> bool:
        self._forget_abandoned()
        if self._waiters or not self._fits(size):
            return False
        self.held += size
        return True

    async def take(self, size: int) -> None:
        if self.try_take(size):
            return
        self.waits += 1
        granted = asyncio.get_running_loop().create_future()
        self._waiters.append((size, granted))
        try:
            async with asyncio.timeout(self.wait_seconds):
                await granted
        except TimeoutError:
            if granted.cancelled():  # not granted in time: taken anyway
                self.held += size
                self.overdrafts += 1
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self.give_back(size)  # granted, but its upload was cancelled before it ran
            raise

    def give_back(self, size: int) -> None:
        self.held -= size
        # First come, first served: a big read is not overtaken forever by small ones.
        self._forget_abandoned()
        while self._waiters and self._fits(self._waiters[0][0]):
            size, granted = self._waiters.popleft()
            self.held += size
            granted.set_result(None)
            self._forget_abandoned()

    def _forget_abandoned(self) -> None:
        """Waiters that timed out or were cancelled wait no more."""
        while self._waiters and self._waiters[0][1].done():
            self._waiters.popleft()

    def _fits(self, size: int) -> bool:
        return self.held == 0 or self.held + size <= self.limit


class UploadMemoryMetrics(Collector):
    """The bound, what is held now and how often an upload waited, for /metrics."""

    def __init__(self, memory: UploadMemory) -> None:
        self.memory = memory

    def collect(self) -> Iterator[Metric]:
        memory = self.memory
        for family, name, documentation, value in (
            (
                GaugeMetricFamily,
                "nfhub_files_upload_memory_limit_bytes",
                "Bytes all uploads may hold in memory at once (FILES_LOCAL_UPLOAD_MEMORY_BYTES)",
                memory.limit,
            ),
            (
                GaugeMetricFamily,
                "nfhub_files_upload_memory_bytes",
                "Bytes received by uploads and not yet written to the disk",
                memory.held,
            ),
            (
                CounterMetricFamily,
                "nfhub_files_upload_memory_waits",
                "Times an upload waited for memory before reading more of its body",
                memory.waits,
            ),
            (
                CounterMetricFamily,
                "nfhub_files_upload_memory_overdrafts",
                "Waits that took the memory anyway, held by uploads whose clients went quiet",
                memory.overdrafts,
            ),
        ):
            yield family(name, documentation, value=value)

    def describe(self) -> Iterator[Metric]:
        return iter(())
