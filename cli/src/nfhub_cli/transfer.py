"""Uploads and downloads through the files service's signed URLs, resumable.

Big uploads go in parts (the files service's multipart uploads): the upload's id is noted in
the config folder before the first part is sent, so running the same command again after an
interruption asks the server which parts it holds and sends only the others. Downloads are
written to ``<name>.nfhub-part`` and continued with a Range request; the file takes its real
name only once its size (and sha256, when the server knows it) match. Big downloads come in
byte ranges, several at once (one stream from S3 or over a long link is slower than a few side
by side), each range noted in ``<name>.nfhub-part.ranges`` once it is on the disk, so the same
command again fetches only the ranges missing. Every request after the first names the version
it continues (If-Range): a file replaced on the server meanwhile starts over, whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import Any, BinaryIO, TypeVar

import httpx

from nfhub_cli.api import MAX_ATTEMPTS, Api, ApiError, retry_delay
from nfhub_cli.config import config_dir

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


# ---------------------------------------------------------------------------------------------
# Upload


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


def upload_folder(
    api: Api,
    local: Path,
    remote: str,
    *,
    progress: Progress | None = None,
    multipart_threshold: int = MULTIPART_THRESHOLD,
    part_size: int | None = None,
    store: ResumeStore | None = None,
) -> list[str]:
    """Every file below the local folder ``local`` to the project folder ``remote`` (empty
    folders too); the project paths uploaded, in path order.

    A file the project already holds whole (same size, and not older than the local one) is
    skipped, so the same command again after an interruption goes on where it stopped (a big
    file it stopped in sends only its missing parts). Links to folders are not followed (a
    loop would never end); other files that are not regular files (sockets, pipes) are left.
    The server's time of a file is compared with this machine's: clocks apart by more than
    the time between an upload and a change that keeps the size would hide that change.
    """
    progress = progress or Progress()
    prefix = remote.strip("/") + "/"
    folders, files = _local_tree(local)
    held = _held_files(api, prefix)
    targets = {path: prefix + path.relative_to(local).as_posix() for path in files}
    stats = {path: path.stat() for path in files}
    progress.start(sum(stat.st_size for stat in stats.values()))
    holding = {parent for path in files for parent in path.parents}
    for folder in folders:
        if folder not in holding:  # the others come with their files
            relative = folder.relative_to(local).as_posix()
            api.request("files", "POST", "/files/folders", json={"path": prefix + relative})
    small: list[Path] = []
    big: list[Path] = []
    for path, stat in stats.items():
        entry = held.get(targets[path])
        if entry is not None and _copy_is_whole(entry, stat, copy_is_local=False):
            progress.advance(stat.st_size)
        else:
            (big if stat.st_size >= multipart_threshold else small).append(path)
    # A big file already goes in parts, several at once: big files go one after the other
    # (queued last, so the small ones are not kept waiting behind them).
    one_big_at_a_time = threading.Lock()
    big_files = set(big)

    def send(path: Path) -> str:
        with one_big_at_a_time if path in big_files else contextlib.nullcontext():
            upload(
                api, path, targets[path], progress=_FileShare(progress).progress(),
                multipart_threshold=multipart_threshold, part_size=part_size, store=store,
            )  # fmt: skip
        return targets[path]

    return sorted(_each_file(send, small + big, str))


def _local_tree(local: Path) -> tuple[list[Path], list[Path]]:
    """The folders below ``local`` and the regular files in and below it, in path order."""
    folders: list[Path] = []
    files: list[Path] = []
    for top, names, file_names in os.walk(local):
        base = Path(top)
        folders.extend(base / name for name in names if not (base / name).is_symlink())
        files.extend(base / name for name in file_names if (base / name).is_file())
    return sorted(folders), sorted(files)


def _held_files(api: Api, prefix: str) -> dict[str, dict[str, Any]]:
    """The project's files below ``prefix`` by path; none when the folder is not there."""
    try:
        files = _walk(api, prefix)[1]
    except ApiError as exc:
        if exc.status == 404:  # listing a folder that is not there
            return {}
        raise
    return {str(entry["path"]): entry for entry in files}


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
                # 403: the URL expired under us (a slow link); anything else is final.
                if exc.status != 403 or attempt == MAX_ATTEMPTS:
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


# ---------------------------------------------------------------------------------------------
# Download


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
    if _comes_in_ranges(entry, ranged_threshold):
        entry = _download_ranges(api, remote, entry, partial, range_size, progress)
    else:
        entry = _download_stream(api, remote, entry, partial, progress)
    _put_in_place(partial, target, entry)
    return target


def _comes_in_ranges(entry: dict[str, Any], ranged_threshold: int) -> bool:
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

    link = _DownloadUrl(api, remote)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        if have >= size:
            break
        url = link.url
        headers = {"Range": f"bytes={have}-"} if have else {}
        if have and entry.get("etag"):
            # The rest only if the file is still that version; else a 200 with all of it.
            headers["If-Range"] = _entity_tag(str(entry["etag"]))
        try:
            with api.stream(url, headers=headers) as response:
                if response.status_code == 200 and have:
                    progress.reset(size)  # the server sent it all again: start over
                    have = 0
                asked_version = headers.get("If-Range")
                if (
                    response.status_code == 206
                    and asked_version is not None
                    and _of_another_version(response, asked_version)
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
            _wait_to_retry(api, remote, attempt)
        except ApiError as exc:
            if exc.status != 403 or attempt == MAX_ATTEMPTS:
                raise
            link.refresh(url)
    if not partial.exists():
        partial.touch()  # an empty file
    marker.unlink(missing_ok=True)
    return entry


def _wait_to_retry(api: Api, remote: str, attempt: int) -> None:
    """After a download's connection broke: wait before the next attempt, or give up after
    the last (what is on the disk stays for the next run)."""
    if attempt == MAX_ATTEMPTS:
        raise ApiError(f"download of {remote} kept failing; run it again to resume") from None
    api.sleep(retry_delay(None, attempt))


class _Replaced(Exception):
    """The server holds another version of the file than the one being downloaded."""


def _of_another_version(response: httpx.Response, version: str) -> bool:
    """Whether ``response`` names a version other than ``version`` (an entity tag): a store
    that ignores If-Range still names the version it sends in its ETag."""
    sent = response.headers.get("etag")
    return sent is not None and sent != version


class _DownloadUrl:
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


def _download_ranges(
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
        except _Replaced:
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
    link = _DownloadUrl(api, remote)
    version = _entity_tag(str(entry["etag"]))
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
                    _wait_to_retry(api, remote, attempt)
                    continue
                except ApiError as exc:
                    if exc.status != 403 or attempt == MAX_ATTEMPTS:
                        raise
                    link.refresh(url)  # expired under a slow link
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
    """Raise _Replaced unless ``response`` is the range asked for, of ``version``."""
    expected = f"bytes {writer.position}-{writer.end - 1}/{size}"
    if (
        response.status_code != 206
        or response.headers.get("content-range") != expected
        or _of_another_version(response, version)
    ):
        raise _Replaced


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


def _put_in_place(partial: Path, target: Path, entry: dict[str, Any]) -> None:
    """The finished part file under its real name, once its size and sha256 (when known) match;
    on the disk before it takes the name: after a crash, a file under that name is whole."""
    _check(partial, int(entry["size"] or 0), entry.get("sha256"))
    modified = _modified_ns(entry)
    if modified is not None:
        # The server's time, not this machine's: a later run compares it with the server's
        # (download_folder), and two clocks apart must not make a changed file look older.
        os.utime(partial, ns=(modified, modified))
    with partial.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, target)
    partial.with_name(partial.name + ".ranges").unlink(missing_ok=True)


def _modified_ns(entry: dict[str, Any]) -> int | None:
    """When the server last wrote the file, in ns since the epoch (exact: no float)."""
    modified = entry.get("modified")
    if not modified:
        return None
    return (datetime.fromisoformat(str(modified)) - EPOCH) // timedelta(microseconds=1) * 1000


def _entity_tag(etag: str) -> str:
    return etag if etag.startswith(('"', 'W/"')) else f'"{etag}"'


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


@dataclass
class _FileShare:
    """One file's share of a folder's progress: its bytes count toward the folder's total,
    and a file the server sends again from its start takes back what it had counted."""

    overall: Progress
    moved: int = 0

    def advance(self, count: int) -> None:
        self.moved += count
        self.overall.advance(count)

    def reset(self, _total: int) -> None:
        self.overall.advance(-self.moved)
        self.moved = 0

    def progress(self) -> Progress:
        return Progress(advance=self.advance, reset=self.reset)


def download_folder(
    api: Api,
    remote: str,
    destination: Path,
    *,
    progress: Progress | None = None,
    ranged_threshold: int = RANGED_THRESHOLD,
    range_size: int = RANGE_SIZE,
) -> list[Path]:
    """Every file below the folder ``remote`` into ``destination/<folder name>/``, as
    ``cp -r`` copies a folder (empty folders too); the files written, in path order.

    A file already there whole (same size, and not older than the server's) is skipped, so
    the same command again after an interruption goes on where it stopped, and the file it
    stopped in continues from its last byte (as ``download`` does).
    """
    progress = progress or Progress()
    prefix = remote.strip("/") + "/"
    root = destination / posixpath.basename(prefix.rstrip("/"))
    folders, files = _walk(api, prefix)
    progress.start(sum(int(entry["size"] or 0) for entry in files))
    for folder in folders:
        _local_path(root, folder[len(prefix) :]).mkdir(parents=True, exist_ok=True)
    wanted: list[tuple[dict[str, Any], Path]] = []
    for entry in files:
        target = _local_path(root, entry["path"][len(prefix) :])
        if _already_here(target, entry):
            progress.advance(int(entry["size"] or 0))
        else:
            wanted.append((entry, target))

    # A big file already comes in ranges, several at once: big files come one after the
    # other (queued last, so the small ones are not kept waiting behind them).
    one_big_at_a_time = threading.Lock()
    big = [item for item in wanted if _comes_in_ranges(item[0], ranged_threshold)]
    small = [item for item in wanted if not _comes_in_ranges(item[0], ranged_threshold)]
    big_targets = {target for _, target in big}

    def fetch(item: tuple[dict[str, Any], Path]) -> Path:
        entry, target = item  # its folder made above, with every other
        share = _FileShare(progress)
        with one_big_at_a_time if target in big_targets else contextlib.nullcontext():
            return download(
                api, entry["path"], target, progress=share.progress(), entry=entry,
                ranged_threshold=ranged_threshold, range_size=range_size,
            )  # fmt: skip

    return sorted(_each_file(fetch, small + big, lambda item: str(item[0]["path"])))


def _walk(api: Api, prefix: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The folders (as ``a/b/``) and the file entries below ``prefix``, each in path order."""
    folders: list[str] = [prefix]
    files: list[dict[str, Any]] = []
    pending = [prefix]
    while pending:
        for entry in api.pages("files", "/files", params={"path": pending.pop()}):
            if entry["kind"] == "folder":
                folder = entry["path"].rstrip("/") + "/"
                folders.append(folder)
                pending.append(folder)
            else:
                files.append(entry)
    return sorted(folders), sorted(files, key=lambda entry: str(entry["path"]))


def _local_path(root: Path, relative: str) -> Path:
    """``root/relative``, refused if it would land outside ``root``: the names come from the
    server, and a server (or a proxy) must not make the CLI write elsewhere."""
    name = PurePosixPath(relative)
    if name.is_absolute() or ".." in name.parts or "\\" in relative or "\0" in relative:
        raise ApiError(f"the server named a path outside the folder: {relative!r}")
    return root.joinpath(*name.parts)


def _already_here(target: Path, entry: dict[str, Any]) -> bool:
    try:
        local = target.stat()
    except FileNotFoundError:
        return False
    return S_ISREG(local.st_mode) and _copy_is_whole(entry, local, copy_is_local=True)


def _copy_is_whole(entry: dict[str, Any], local: os.stat_result, *, copy_is_local: bool) -> bool:
    """Whether one side holds a whole copy of the other (``entry`` a file's, from a listing),
    as rsync and ``aws s3 sync`` judge it: the same size, and the copy not older than what it
    copies."""
    modified = _modified_ns(entry)
    if int(entry["size"] or 0) != local.st_size or modified is None:
        return False
    return local.st_mtime_ns >= modified if copy_is_local else modified >= local.st_mtime_ns


Item = TypeVar("Item")
Done = TypeVar("Done")


def _each_file(
    work: Callable[[Item], Done], items: list[Item], name: Callable[[Item], str]
) -> list[Done]:
    """``work`` on every item, FILE_WORKERS at a time (a folder of many small files is a
    request or two per file: one at a time, the round trips add up); one failing does not
    stop the others, and the failures are reported together at the end."""
    done: list[Done] = []
    failures: list[str] = []
    pool = ThreadPoolExecutor(FILE_WORKERS, thread_name_prefix="file")
    try:
        futures = {pool.submit(work, item): item for item in items}
        for future in as_completed(futures):
            try:
                done.append(future.result())
            except (ApiError, OSError) as exc:
                failures.append(f"{name(futures[future])}: {exc}")
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: start nothing more
        raise
    pool.shutdown()
    if failures:
        raise ApiError(
            f"{len(failures)} of {len(items)} files failed (the same command again retries "
            f"them): {'; '.join(sorted(failures)[:5])}"
        )
    return done
