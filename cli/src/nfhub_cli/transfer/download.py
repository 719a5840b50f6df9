"""One file down: in one stream continued where it stopped, or in ranges when big."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx

from nfhub_cli.api import MAX_ATTEMPTS, Api, ApiError
from nfhub_cli.transfer.common import (
    CHUNK,
    PART_SUFFIX,
    RANGE_SIZE,
    RANGED_THRESHOLD,
    WRITE_BUFFER,
    DownloadUrl,
    Progress,
    entity_tag,
    modified_ns,
    of_another_version,
    url_expired,
    wait_to_retry,
)
from nfhub_cli.transfer.ranged import download_ranges


def download(
    api: Api,
    remote: str,
    destination: Path,
    *,
    progress: Progress | None = None,
    entry: dict[str, Any] | None = None,
    ranged_threshold: int = RANGED_THRESHOLD,
    range_size: int = RANGE_SIZE,
) -> Path:
    """Download ``remote`` to ``destination`` (a file, or a folder to put it in); its path.
    ``entry`` is the file's entry when the caller has it (from a listing), saving a stat."""
    progress = progress or Progress()
    if entry is None:
        entry = api.json("files", "GET", "/files/stat", params={"path": remote})
    if entry["kind"] != "file":
        raise ApiError(f"{remote} is a folder; download_folder takes folders")
    target = destination / entry["name"] if destination.is_dir() else destination
    partial = target.with_name(target.name + PART_SUFFIX)
    if comes_in_ranges(entry, ranged_threshold):
        entry = download_ranges(api, remote, entry, partial, range_size, progress)
    else:
        entry = _download_stream(api, remote, entry, partial, progress)
    _put_in_place(partial, target, entry)
    return target


def comes_in_ranges(entry: dict[str, Any], ranged_threshold: int) -> bool:
    """Big enough, and with a version each range can name."""
    return int(entry["size"] or 0) >= max(ranged_threshold, 1) and bool(entry.get("etag"))


def _download_stream(
    api: Api, remote: str, entry: dict[str, Any], partial: Path, progress: Progress
) -> dict[str, Any]:
    """The file into ``partial`` in one stream, continuing the bytes a run before left there;
    the entry of the version written."""
    marker = partial.with_name(partial.name + ".etag")
    size = int(entry["size"] or 0)
    version = str(entry.get("etag") or entry.get("modified") or "")
    have = 0
    # A part is resumed only when the server's version of the file is known and unchanged.
    if version and partial.exists() and marker.exists() and marker.read_text() == version:
        have = partial.stat().st_size
        if have > size:
            have = 0
    else:
        partial.unlink(missing_ok=True)
    marker.write_text(version)
    progress.start(size)
    progress.advance(have)

    link = DownloadUrl(api, remote)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if have >= size:
            break
        url = link.url
        headers = {"Range": f"bytes={have}-"} if have else {}
        if have and entry.get("etag"):
            # The rest only if the file is still that version; else a 200 with all of it.
            headers["If-Range"] = entity_tag(str(entry["etag"]))
        try:
            with api.stream(url, headers=headers) as response:
                if response.status_code == 200 and have:
                    progress.reset(size)  # the server sent it all again: start over
                    have = 0
                asked_version = headers.get("If-Range")
                if (
                    response.status_code == 206
                    and asked_version is not None
                    and of_another_version(response, asked_version)
                ):
                    # A store that ignores If-Range sent the rest of another version.
                    progress.reset(size)
                    have = 0
                    continue
                # The body as it is read (httpx re-chunking it copies every byte once more),
                # gathered in a large write buffer (a write per read is a system call per
                # 64 KiB): faster into a file than curl (bench/files.py).
                unreported = 0
                try:
                    with partial.open("ab" if have else "wb", buffering=WRITE_BUFFER) as handle:
                        for piece in response.iter_bytes():
                            handle.write(piece)
                            have += len(piece)
                            unreported += len(piece)
                            if unreported >= CHUNK:
                                progress.advance(unreported)
                                unreported = 0
                finally:
                    progress.advance(unreported)
        except httpx.TransportError:
            wait_to_retry(api, remote, attempt)
        except ApiError as exc:
            if not url_expired(exc, attempt):
                raise
            link.refresh(url)
    if not partial.exists():
        partial.touch()  # an empty file
    marker.unlink(missing_ok=True)
    return entry


def _put_in_place(partial: Path, target: Path, entry: dict[str, Any]) -> None:
    """The finished part file under its real name, once its size and sha256 (when known) match;
    on the disk before it takes the name: after a crash, a file under that name is whole."""
    _check(partial, int(entry["size"] or 0), entry.get("sha256"))
    modified = modified_ns(entry)
    if modified is not None:
        # The server's time, not this machine's: a later run compares it with the server's
        # (download_folder), and two clocks apart must not make a changed file look older.
        os.utime(partial, ns=(modified, modified))
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)
    partial.with_name(partial.name + ".ranges").unlink(missing_ok=True)


def _check(path: Path, size: int, sha256: str | None) -> None:
    actual = path.stat().st_size
    if actual != size:
        path.unlink(missing_ok=True)
        raise ApiError(f"downloaded {actual} bytes where the server has {size}; run it again")
    if sha256:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != sha256:
            path.unlink(missing_ok=True)
            raise ApiError("the downloaded bytes do not match the server's sha256; run it again")
