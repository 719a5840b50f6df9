"""The local backend's file primitives: checksums in extended attributes, the version (ETag)
of a file, small records written whole, and flushes to the disk."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from nfhub_files.storage.base import ObjectInfo
from nfhub_files.storage.errors import ObjectExists
from nfhub_files.storage.paths import RESERVED_PREFIX

TEMP_PREFIX = RESERVED_PREFIX
SHA256_XATTR = "user.nfhub.sha256"


def read_sha256(path: Path | str) -> str | None:
    try:
        return os.getxattr(path, SHA256_XATTR, follow_symlinks=False).decode()
    except OSError:
        return None


def local_etag(stat: os.stat_result) -> str:
    """A file's version as this backend names it, in listings and in its downloads' ETag (so
    a resumed download's If-Range can tell a replaced file). Every write lands as a new file
    renamed into place, so a new version has a new inode or mtime; a move keeps both, as it
    keeps the bytes. Like S3's ETag it is opaque, not a checksum of the bytes (sha256 is)."""
    version = f"{stat.st_ino}-{stat.st_mtime_ns}-{stat.st_size}".encode()
    return hashlib.blake2b(version, digest_size=16).hexdigest()


def object_info(
    key: str, path: Path | str, stat: os.stat_result, *, checksum: bool = True
) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=stat.st_size,
        modified=datetime.fromtimestamp(stat.st_mtime, UTC),
        etag=local_etag(stat),
        sha256=read_sha256(path) if checksum else None,
    )


def write_sha256(path: Path, value: str) -> None:
    # A filesystem without user xattrs: the checksum is simply not remembered.
    with contextlib.suppress(OSError):
        os.setxattr(path, SHA256_XATTR, value.encode())


def ensure_folder(path: Path) -> None:
    """``path`` and its parents; a file in the way is the client's conflict, not a 500."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise ObjectExists(
            "A file is in the way: a folder on this path is a file; choose another path."
        ) from exc


def write_record(path: Path, text: str, *, durable: bool) -> None:
    """A small file, whole or not at all (written aside, then renamed)."""
    temporary = path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex}")
    try:
        with temporary.open("wb") as handle:
            handle.write(f"{text}\n".encode())
            if durable:
                flush_handle(handle)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if durable:
        flush_path(path.parent)


def flush_handle(handle: BinaryIO) -> None:
    """Until the file's bytes are on the disk, not only in the page cache."""
    handle.flush()
    os.fsync(handle.fileno())


def flush_path(path: Path) -> None:
    """A file's bytes, or a folder's names (where a rename lives), until on the disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
