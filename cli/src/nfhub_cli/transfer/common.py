"""What uploads and downloads share: sizes, progress, and a download's signed URL and
version."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from nfhub_cli.api import MAX_ATTEMPTS, Api, ApiError, retry_delay

MiB = 1024 * 1024
MULTIPART_THRESHOLD = 64 * MiB
# S3 refuses smaller parts (but the last), and so does the files service everywhere.
MIN_PART_SIZE = 5 * MiB
PART_WORKERS = 4
# Files of a folder moved at once.
FILE_WORKERS = 4
CHUNK = 1 * MiB
WRITE_BUFFER = 4 * MiB
# Ask for fresh part URLs this long before the old ones expire.
URL_MARGIN = timedelta(seconds=60)
PART_SUFFIX = ".nfhub-part"
# Downloads this big come in ranges of RANGE_SIZE, PART_WORKERS at once, as uploads go in
# parts; an interruption redoes at most the ranges in flight.
RANGED_THRESHOLD = MULTIPART_THRESHOLD
RANGE_SIZE = 64 * MiB
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Advance = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


@dataclass
class Progress:
    """What a transfer reports to: the total once known, then bytes as they move."""

    start: Callable[[int], None] = _no_progress
    advance: Advance = _no_progress
    reset: Callable[[int], None] = _no_progress


class DownloadUrl:
    """One signed URL for all of a file's requests, asked for again (once, whichever of them
    found it expired) when it expired."""

    def __init__(self, api: Api, remote: str) -> None:
        self.api = api
        self.remote = remote
        self._lock = threading.Lock()
        self.url = self._ask()

    def _ask(self) -> str:
        params = {"path": self.remote}
        url: str = self.api.json("files", "GET", "/files/download-url", params=params)["url"]
        return url

    def refresh(self, expired: str) -> None:
        with self._lock:
            if self.url == expired:  # else another range already renewed it
                self.url = self._ask()


class Replaced(Exception):
    """The server holds another version of the file than the one being downloaded."""


def of_another_version(response: httpx.Response, version: str) -> bool:
    """Whether ``response`` names a version other than ``version`` (an entity tag): a store
    that ignores If-Range still names the version it sends in its ETag."""
    sent = response.headers.get("etag")
    return sent is not None and sent != version


def entity_tag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


def url_expired(exc: ApiError, attempt: int) -> bool:
    """Whether a signed URL was refused because it expired under a slow link (a 403) and an
    attempt is left to ask for a fresh one; any other refusal is final."""
    return exc.status == 403 and attempt < MAX_ATTEMPTS


def wait_to_retry(api: Api, remote: str, attempt: int) -> None:
    """After a download's connection broke: wait before the next attempt, or give up after
    the last (what is on the disk stays for the next run)."""
    if attempt == MAX_ATTEMPTS:
        raise ApiError(f"download of {remote} kept failing; run it again to resume") from None
    api.sleep(retry_delay(None, attempt))


def modified_ns(entry: dict[str, Any]) -> int | None:
    """When the server last wrote the file, in ns since the epoch (exact: no float)."""
    modified = entry.get("modified")
    if not modified:
        return None
    return (datetime.fromisoformat(str(modified)) - EPOCH) // timedelta(microseconds=1) * 1000
