"""A big download in byte ranges, several at once, each noted once it is on the disk."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from nfhub_cli.api import MAX_ATTEMPTS, Api, ApiError
from nfhub_cli.transfer.common import (
    CHUNK,
    PART_WORKERS,
    WRITE_BUFFER,
    DownloadUrl,
    Progress,
    Replaced,
    entity_tag,
    of_another_version,
    url_expired,
    wait_to_retry,
)


class _Ranges:
    """Which ranges of one version of a file are on the disk, kept beside the part file."""

    def __init__(self, path: Path, entry: dict[str, Any], range_size: int) -> None:
        self.path = path
        self.identity = {"etag": entry["etag"], "size": entry["size"], "range_size": range_size}
        self._lock = threading.Lock()
        self.done: set[int] = set()

    def resume(self, partial: Path) -> bool:
        """Take the ranges a run before noted, if they are of this version and its part file
        is still there; False (nothing taken) otherwise."""
        try:
            noted = json.loads(self.path.read_text())
            same = {key: noted[key] for key in self.identity} == self.identity
            size_there = partial.stat().st_size == self.identity["size"]
            done = {int(number) for number in noted["done"]}
        except (OSError, ValueError, KeyError, TypeError):
            return False
        if same and size_there:
            self.done = done
        return same and size_there

    def note(self, number: int | None = None) -> None:
        with self._lock:
            if number is not None:
                self.done.add(number)
            state = {**self.identity, "done": sorted(self.done)}
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_text(json.dumps(state))
            os.replace(temporary, self.path)


def download_ranges(
    api: Api,
    remote: str,
    entry: dict[str, Any],
    partial: Path,
    range_size: int,
    progress: Progress,
) -> dict[str, Any]:
    """The file into ``partial`` in ranges, PART_WORKERS at once; the entry of the version
    written (a file replaced meanwhile is started over, as that new version)."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            _fetch_ranges(api, remote, entry, partial, range_size, progress)
            return entry
        except Replaced:
            if attempt == MAX_ATTEMPTS:
                break
            entry = api.json("files", "GET", "/files/stat", params={"path": remote})
            if entry["kind"] != "file" or not entry.get("etag"):
                break
            progress.reset(int(entry["size"] or 0))
    raise ApiError(f"{remote} kept changing on the server while it was downloaded; run it again")


def _fetch_ranges(
    api: Api,
    remote: str,
    entry: dict[str, Any],
    partial: Path,
    range_size: int,
    progress: Progress,
) -> None:
    size = int(entry["size"])
    ranges = _Ranges(partial.with_name(partial.name + ".ranges"), entry, range_size)
    partial.with_name(partial.name + ".etag").unlink(missing_ok=True)  # a stream's, if any
    if not ranges.resume(partial):
        with partial.open("wb") as handle:  # no byte of another version stays
            handle.truncate(size)
        ranges.note()
    progress.start(size)
    progress.advance(sum(min(range_size, size - n * range_size) for n in ranges.done))
    link = DownloadUrl(api, remote)
    version = entity_tag(str(entry["etag"]))
    stop = threading.Event()  # one range failed for good: the others end too

    def fetch(number: int) -> None:
        writer = _RangeWriter(
            partial, number * range_size, min((number + 1) * range_size, size), progress
        )
        try:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                if stop.is_set():
                    return
                url = link.url
                asked = {"Range": f"bytes={writer.position}-{writer.end - 1}"}
                try:
                    # If-Range: another version comes whole (a 200), not as this range.
                    with api.stream(url, headers={**asked, "If-Range": version}) as response:
                        _same_version(response, version, writer, size)
                        writer.write_body(response)
                except httpx.TransportError:
                    wait_to_retry(api, remote, attempt)
                    continue
                except ApiError as exc:
                    if not url_expired(exc, attempt):
                        raise
                    link.refresh(url)
                    continue
                if writer.position == writer.end:
                    ranges.note(number)
                    return
            raise ApiError(f"download of {remote} kept breaking off; run it again to resume")
        except BaseException:
            stop.set()
            raise

    missing = [number for number in range(-(-size // range_size)) if number not in ranges.done]
    pool = ThreadPoolExecutor(PART_WORKERS, thread_name_prefix="range")
    try:
        for _ in pool.map(fetch, missing):
            pass
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)  # none left writing when this returns
        raise
    pool.shutdown()


def _same_version(response: httpx.Response, version: str, writer: _RangeWriter, size: int) -> None:
    """Raise Replaced unless ``response`` is the range asked for, of ``version``."""
    expected = f"bytes {writer.position}-{writer.end - 1}/{size}"
    if (
        response.status_code != 206
        or response.headers.get("content-range") != expected
        or of_another_version(response, version)
    ):
        raise Replaced


class _RangeWriter:
    """Writes one range of the part file at its place, through a WRITE_BUFFER buffer of its
    own; ``position`` is how far it got, also when a body broke off (what came before the
    break is written)."""

    def __init__(self, partial: Path, start: int, end: int, progress: Progress) -> None:
        self.partial = partial
        self.position = start
        self.end = end
        self.progress = progress

    def write_body(self, response: httpx.Response) -> None:
        with self.partial.open("r+b", buffering=WRITE_BUFFER) as handle:
            handle.seek(self.position)
            unreported = 0
            try:
                for piece in response.iter_bytes():
                    if self.position + len(piece) > self.end:
                        raise ApiError("the server sent more bytes than the range asked for")
                    handle.write(piece)
                    self.position += len(piece)
                    unreported += len(piece)
                    if unreported >= CHUNK:
                        self.progress.advance(unreported)
                        unreported = 0
            finally:
                self.progress.advance(unreported)
                handle.flush()
                if self.position == self.end:
                    # On the disk before it is noted: a noted range is never a hole.
                    os.fdatasync(handle.fileno())
