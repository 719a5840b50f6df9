"""Receiving an upload's body: each buffer is written in a worker thread while the event loop
receives the next, within the process's bound on upload memory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

import anyio

from nfhub_files.storage.errors import UploadTooLarge
from nfhub_files.storage.upload_memory import UploadMemory

# An upload holds two of these (one being written, one being filled): 4 MiB uploads as fast
# as 8 MiB did here, and `nfhub files upload`'s four parts at once grow the service by ~30 MiB
# instead of ~71 MiB; 2 MiB was slower (paired runs against three services at once).
WRITE_BUFFER = 4 * 1024 * 1024


class OverlappedWriter:
    """Writes a received buffer in a worker thread while the event loop receives the next.

    Receiving and writing in turn, an upload ran at neither the network's nor the disk's
    speed: while a buffer was written nothing was read from the socket, and the client
    stalled. With one write in flight, at most two buffers are held (bench/files.py).
    """

    def __init__(
        self,
        handle: BinaryIO,
        sha256: hashlib._Hash | None,
        md5: hashlib._Hash | None,
        memory: UploadMemory,
    ) -> None:
        self._handle = handle
        self._sha256 = sha256
        self._md5 = md5
        self._memory = memory
        self._pending: asyncio.Future[None] | None = None

    async def receive_all(self, chunks: AsyncIterator[bytes], max_size: int) -> int:
        """Write ``chunks`` from the file's position; the bytes written. More than ``max_size``
        raises UploadTooLarge."""
        received = 0
        # The chunks as they came, not joined: joining would copy every byte once more on
        # the event loop's thread, which is what limits an upload's speed (bench/files.py).
        buffered: list[bytes] = []
        buffered_bytes = 0
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > max_size:
                    raise UploadTooLarge
                if not self._memory.try_take(len(chunk)):
                    # Over the process's bound: what this upload holds goes to the disk, and
                    # it reads on once written bytes (its own or others') have made room.
                    full, buffered, buffered_bytes = buffered, [], 0
                    if full:
                        await self.write(full)
                    await self._memory.take(len(chunk))
                buffered.append(chunk)
                buffered_bytes += len(chunk)
                if buffered_bytes >= WRITE_BUFFER:
                    full, buffered, buffered_bytes = buffered, [], 0
                    await self.write(full)
            if buffered:
                full, buffered, buffered_bytes = buffered, [], 0
                await self.write(full)
        finally:
            # Bytes of a refused or cancelled upload that no write took (a write in flight
            # gives its own back when it ends).
            self._memory.give_back(buffered_bytes)
        await self.wait()
        return received

    async def write(self, chunks: list[bytes]) -> None:
        """Hand ``chunks`` (their memory taken) to a worker thread, once the last is written."""
        size = sum(map(len, chunks))
        try:
            await self.wait()
        except BaseException:
            self._memory.give_back(size)
            raise
        # In anyio's worker threads, like every other file operation here.
        self._pending = asyncio.ensure_future(
            anyio.to_thread.run_sync(write_and_hash, self._handle, chunks, self._sha256, self._md5)
        )
        self._pending.add_done_callback(lambda _: self._memory.give_back(size))

    async def wait(self) -> None:
        """Until the write in flight is done; its error, if any, is raised here."""
        if self._pending is not None:
            # Shielded: a cancelled request must not forget a write its thread still makes.
            await asyncio.shield(self._pending)
            self._pending = None

    async def abandon(self, cleanup: Callable[[], None], *, wait: bool) -> None:
        """Run ``cleanup`` once no write is in flight: after waiting for it, or (``wait``
        false, for a cancelled request, which must not wait) when its thread finishes."""
        pending, self._pending = self._pending, None
        if pending is None:
            cleanup()
            return

        def finished(future: asyncio.Future[None]) -> None:
            # Its error, if any, is not the one to report (the request's own is), but it is
            # retrieved, so that asyncio does not log it as forgotten.
            if not future.cancelled():
                future.exception()
            cleanup()

        try:
            if wait and not pending.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(pending)
        finally:
            # Also when the request is cancelled while it waits here.
            if pending.done():
                finished(pending)
            else:
                pending.add_done_callback(finished)


def write_and_hash(
    handle: BinaryIO,
    chunks: list[bytes],
    sha256: hashlib._Hash | None,
    md5: hashlib._Hash | None,
) -> None:
    handle.writelines(chunks)
    for chunk in chunks:
        if sha256 is not None:
            sha256.update(chunk)
        if md5 is not None:
            md5.update(chunk)
