"""The storage backend interface: local disk and S3 implement it the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: datetime
    etag: str | None = None
    sha256: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Listing:
    """Direct children of a folder: sub-folder keys (ending in '/') and objects, each sorted."""

    folders: list[str]
    objects: list[ObjectInfo]


@dataclass(frozen=True)
class SignedRequest:
    """What a client must send: method, URL and headers (all signed)."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartInfo:
    part_number: int
    size: int
    etag: str


class StorageBackend(Protocol):
    name: str

    async def check(self) -> None:
        """Raise StorageUnavailable when the store cannot be reached or is misconfigured."""

    async def stat(self, key: str, *, checksum: bool = True) -> ObjectInfo | None:
        """The object at ``key``, None when there is none; ``checksum=False`` lets a backend
        skip reading the SHA-256 (the local one keeps it in an extended attribute)."""
        ...

    async def folder_exists(self, prefix: str) -> bool: ...

    async def list_page(self, prefix: str, *, offset: int, limit: int) -> tuple[Listing, int]:
        """``limit`` children from ``offset`` (folders first, then files) and the total count."""
        ...

    def iter_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, recursively, in key order."""
        ...

    async def presign_get(self, key: str, *, expires_in: int, filename: str) -> str: ...

    async def presign_put(
        self,
        key: str,
        *,
        expires_in: int,
        size: int | None,
        content_type: str | None,
        sha256: str | None,
        md5: str | None,
    ) -> SignedRequest: ...

    async def make_folder(self, prefix: str) -> None: ...

    async def copy_object(self, source: str, destination: str) -> None: ...

    async def move_object(self, source: str, destination: str) -> None:
        """Rename one object (atomically where the store can)."""

    async def delete_object(self, key: str) -> None: ...

    async def delete_folder(self, prefix: str) -> None:
        """Delete every object under ``prefix`` and the folder itself."""

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The object's bytes in chunks (never whole)."""
        ...

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        """Store a stream as an object (atomically: all or nothing)."""
        ...

    async def start_multipart(
        self, key: str, *, content_type: str | None, part_size: int | None = None
    ) -> str:
        """A new upload's id; ``part_size`` (all parts but the last) places each part on
        backends that assemble the file themselves."""
        ...

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int, size: int
    ) -> SignedRequest: ...

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]: ...

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[PartInfo]
    ) -> ObjectInfo: ...

    async def abort_multipart(self, key: str, upload_id: str) -> None: ...

    async def close(self) -> None: ...
