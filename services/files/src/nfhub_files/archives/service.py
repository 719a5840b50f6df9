"""Zip archives of many files (Flow.bio's bulk download): ask, wait for ``ready``, download.

The request only checks the selection and queues it; the archive worker builds the zip.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property

from nfhub_files.archives.builder import is_folder
from nfhub_files.archives.errors import ArchiveNotFound
from nfhub_files.archives.repository import ArchiveRepository
from nfhub_files.archives.schemas import ArchiveCreate, ArchiveRead
from nfhub_files.context import ProjectChangeContext
from nfhub_files.models import Archive
from nfhub_files.storage.errors import ObjectNotFound
from nfhub_files.storage.paths import normalise_path, object_key


def download_name(name: str) -> str:
    return name if name.lower().endswith(".zip") else f"{name}.zip"


def collapse(selection: Sequence[str]) -> list[str]:
    """Drop duplicates and paths inside a selected folder: each file goes in once."""
    folders = {path for path in selection if is_folder(path)}
    kept: list[str] = []
    for path in dict.fromkeys(selection):
        if not any(path != folder and path.startswith(folder) for folder in folders):
            kept.append(path)
    return kept


class ArchiveService(ProjectChangeContext):
    @cached_property
    def repository(self) -> ArchiveRepository:
        return ArchiveRepository(self.session)

    async def create(self, request: ArchiveCreate) -> ArchiveRead:
        selection = collapse([await self._resolve(path) for path in request.paths])
        archive = await self.repository.add(
            Archive(
                project_id=self.project_id,
                name=request.name,
                paths=selection,
                status="queued",
                created_by=self.access.principal.subject,
            )
        )
        details = {"name": archive.name, "paths": selection[:100]}
        await self.record("archive.create", "archive", details, archive.id)
        return await self.view(archive)

    async def get(self, archive_id: uuid.UUID) -> ArchiveRead:
        archive = await self.repository.get_in_project(self.project_id, archive_id)
        if archive is None:
            raise ArchiveNotFound(f"No archive {archive_id} in this project.")
        return await self.view(archive)

    async def list_archives(self, *, limit: int, offset: int) -> tuple[list[ArchiveRead], int]:
        archives, count = await self.repository.list_in_project(
            self.project_id, limit=limit, offset=offset
        )
        return [await self.view(archive) for archive in archives], count

    async def view(self, archive: Archive) -> ArchiveRead:
        """The archive as the API shows it: once ready, with a fresh signed URL to the zip."""
        read = ArchiveRead.model_validate(archive)
        if archive.status == "ready" and archive.key:
            expires_in = self.settings.URL_TTL_SECONDS
            read.download_url = await self.storage.presign_get(
                archive.key, expires_in=expires_in, filename=download_name(archive.name)
            )
            read.download_url_expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
        return read

    async def _resolve(self, path: str) -> str:
        """The stored form of one selected path: 'a/b.txt', 'a/' for a folder, '' for all."""
        relative = normalise_path(path, allow_root=True)
        if not relative:
            return ""
        key = object_key(self.project_id, relative)
        if await self.storage.stat(key) is not None:
            return relative
        if await self.storage.folder_exists(key + "/"):
            return relative + "/"
        raise ObjectNotFound(
            f"No file or folder {relative} in this project; fix or remove it from paths."
        )
