"""Whole folders up and down, several files at once, skipping the files already whole."""

from __future__ import annotations

import contextlib
import os
import posixpath
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG
from typing import Any, TypeVar

from nfhub_cli.api import Api, ApiError
from nfhub_cli.transfer.common import (
    FILE_WORKERS,
    MULTIPART_THRESHOLD,
    RANGE_SIZE,
    RANGED_THRESHOLD,
    Progress,
    modified_ns,
)
from nfhub_cli.transfer.download import comes_in_ranges, download
from nfhub_cli.transfer.upload import ResumeStore, upload


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
    big = [item for item in wanted if comes_in_ranges(item[0], ranged_threshold)]
    small = [item for item in wanted if not comes_in_ranges(item[0], ranged_threshold)]
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
    modified = modified_ns(entry)
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
