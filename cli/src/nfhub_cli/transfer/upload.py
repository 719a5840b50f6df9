"""One file up, in parts when big; an interrupted multipart upload resumes."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from nfhub_cli.api import MAX_ATTEMPTS, Api, ApiError, retry_delay
from nfhub_cli.config import config_dir
from nfhub_cli.transfer.common import (
    CHUNK,
    MULTIPART_THRESHOLD,
    PART_WORKERS,
    URL_MARGIN,
    Advance,
    Progress,
    url_expired,
)


class ResumeStore:
    """The multipart uploads in flight, by (project, remote path, local file and its version)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "uploads.json"
        self._lock = threading.Lock()

    @staticmethod
    def key(project: str, remote: str, local: Path) -> str:
        stat = local.stat()
        identity = f"{project}\0{remote}\0{local.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}"
        return hashlib.sha256(identity.encode()).hexdigest()

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2)
        os.replace(tmp, self.path)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self._read().get(key)

    def put(self, key: str, upload_id: str) -> None:
        with self._lock:
            data = self._read()
            data[key] = upload_id
            self._write(data)

    def remove(self, key: str) -> None:
        with self._lock:
            data = self._read()
            if data.pop(key, None) is not None:
                self._write(data)


def _file_chunks(handle: BinaryIO, offset: int, length: int, advance: Advance) -> Iterator[bytes]:
    handle.seek(offset)
    left = length
    while left > 0:
        chunk = handle.read(min(CHUNK, left))
        if not chunk:
            raise ApiError(
                f"the file shrank while it was being sent (at byte {offset + length - left})"
            )
        left -= len(chunk)
        advance(len(chunk))
        yield chunk


def _put(
    api: Api,
    url: str,
    headers: dict[str, str],
    local: Path,
    offset: int,
    length: int,
    progress: Progress,
) -> httpx.Response:
    """PUT a byte range of a file, streamed; a retry starts the range over."""
    sent = 0

    def attempt() -> httpx.Response:
        nonlocal sent
        if sent:
            progress.advance(-sent)
            sent = 0

        def advance(count: int) -> None:
            nonlocal sent
            sent += count
            progress.advance(count)

        with local.open("rb") as handle:
            return api.blobs.put(
                url,
                content=_file_chunks(handle, offset, length, advance),
                headers={**headers, "Content-Length": str(length)},
            )

    return api.send(attempt, "PUT", (200, 201, 204))


def upload(
    api: Api,
    local: Path,
    remote: str,
    *,
    progress: Progress | None = None,
    multipart_threshold: int = MULTIPART_THRESHOLD,
    part_size: int | None = None,
    store: ResumeStore | None = None,
) -> dict[str, Any]:
    """Upload ``local`` to ``remote`` in the current project; the stored file's entry.

    Without ``part_size`` the files service picks it: its default, grown for a file that
    would need more parts than an upload may have (a fixed size refuses files above
    10,000 parts of it; 16 MiB parts stopped at 156 GiB, less than a long-read BAM).
    """
    progress = progress or Progress()
    size = local.stat().st_size
    progress.start(size)
    if size >= multipart_threshold and size > 0:
        _multipart(api, local, remote, size, part_size, progress, store or ResumeStore())
    else:
        ticket = api.json("files", "POST", "/files/upload-url", json={"path": remote, "size": size})
        _put(api, ticket["url"], ticket.get("headers") or {}, local, 0, size, progress)
    entry: dict[str, Any] = api.json("files", "GET", "/files/stat", params={"path": remote})
    return entry


class _PartUrls:
    """The upload's part URLs, refreshed (one caller at a time) shortly before they expire."""

    def __init__(self, api: Api, upload: dict[str, Any]) -> None:
        self.api = api
        self.upload_id = upload["id"]
        self._lock = threading.Lock()
        self._take(upload)

    def _take(self, upload: dict[str, Any]) -> None:
        self.urls: dict[int, dict[str, Any]] = {
            part["part_number"]: part for part in upload["parts"]
        }
        expires = upload.get("urls_expire_at")
        self.expires = datetime.fromisoformat(expires) if expires else None

    def get(self, part_number: int) -> dict[str, Any]:
        with self._lock:
            if self.expires is not None and datetime.now(UTC) > self.expires - URL_MARGIN:
                self._take(self.api.json("files", "GET", f"/files/multipart/{self.upload_id}"))
            return self.urls[part_number]

    def refresh(self) -> None:
        with self._lock:
            self._take(self.api.json("files", "GET", f"/files/multipart/{self.upload_id}"))


def _multipart(
    api: Api,
    local: Path,
    remote: str,
    size: int,
    part_size: int | None,
    progress: Progress,
    store: ResumeStore,
) -> None:
    key = store.key(api.config.require_project(), remote, local)
    state = _resume(api, store.get(key))
    if state is None:
        plan: dict[str, Any] = {"path": remote, "size": size}
        if part_size is not None:
            plan["part_size"] = min(part_size, size)
        state = api.json("files", "POST", "/files/multipart", json=plan)
        store.put(key, state["id"])  # before any byte: an interruption from here on resumes
    etags = {part["part_number"]: part["etag"] for part in state["uploaded_parts"]}
    progress.advance(sum(part["size"] for part in state["uploaded_parts"]))
    urls = _PartUrls(api, state)
    every_part_size = state["part_size"]

    def send(part_number: int) -> tuple[int, str]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            part = urls.get(part_number)
            try:
                response = _put(
                    api, part["url"], part.get("headers") or {}, local,
                    (part_number - 1) * every_part_size, part["size"], progress,
                )  # fmt: skip
            except ApiError as exc:
                if not url_expired(exc, attempt):
                    raise
                urls.refresh()
                api.sleep(retry_delay(None, attempt))
                continue
            etag = response.headers.get("ETag")
            if not etag:
                raise ApiError(f"the store answered part {part_number} without an ETag")
            return part_number, etag
        raise AssertionError("unreachable")  # pragma: no cover

    with ThreadPoolExecutor(PART_WORKERS, thread_name_prefix="part") as pool:
        for part_number, etag in pool.map(send, sorted(urls.urls)):
            etags[part_number] = etag
    api.json(
        "files",
        "POST",
        f"/files/multipart/{state['id']}/complete",
        json={"parts": [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]},
    )
    store.remove(key)


def _resume(api: Api, upload_id: str | None) -> dict[str, Any] | None:
    """The unfinished upload to continue, or None to start a new one."""
    if upload_id is None:
        return None
    try:
        state: dict[str, Any] = api.json("files", "GET", f"/files/multipart/{upload_id}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return state if state["status"] == "uploading" else None
