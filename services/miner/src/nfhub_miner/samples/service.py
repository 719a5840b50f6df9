"""Samples: the lab's material and its data files, checked against the project's storage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from nfhub_miner.models import Sample, Subject
from nfhub_miner.paths import is_external, pipeline_uri
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.records.search import sample_search_text
from nfhub_miner.records.service import refuse_if_ordered
from nfhub_miner.samples.errors import SampleExists, SampleFilesMissing, SampleNotFound
from nfhub_miner.samples.repository import SampleRepository
from nfhub_miner.samples.schemas import (
    FileSet,
    ResolvedFileSet,
    ResolvedPath,
    SampleCreate,
    SampleInfo,
    SampleRead,
    SampleUpdate,
    SubjectInfo,
)
from nfhub_miner.subjects.repository import SubjectRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import FieldProblem, ValidationFailed


def new_sample(
    access: ProjectAccess, sample_create: SampleCreate, subject: Subject | None
) -> Sample:
    """The row for a new sample of ``subject`` (created by hand or by an import)."""
    sample = Sample(
        project_id=access.project_id,
        subject_id=subject.id if subject else None,
        display_id=sample_create.display_id,
        sample_type=sample_create.sample_type,
        tissue=sample_create.tissue,
        collection_date=sample_create.collection_date,
        barcode=sample_create.barcode,
        external_id=sample_create.external_id,
        tags=list(dict.fromkeys(sample_create.tags)),
        properties=sample_create.properties,
        files=[file_set.model_dump(exclude_none=True) for file_set in sample_create.files],
        created_by=access.principal.subject,
    )
    sample.search_text = sample_search_text(sample, subject.display_id if subject else None)
    return sample


def project_paths(file_sets: Sequence[FileSet | dict[str, Any]]) -> list[str]:
    """The paths of file sets that name files in the project's storage (not URIs)."""
    paths: list[str] = []
    for file_set in file_sets:
        values = file_set.paths if isinstance(file_set, FileSet) else file_set.get("paths", {})
        paths += [path for path in values.values() if not is_external(path)]
    return paths


class SampleService:
    def __init__(
        self,
        session: AsyncSession,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        files: FilesClient,
        admin: AdminClient,
        caller_token: str,
    ) -> None:
        self.session = session
        self.audit = audit
        self.access = access
        self.files = files
        self.admin = admin
        self.caller_token = caller_token
        self.samples = SampleRepository(session)
        self.subjects = SubjectRepository(session)

    async def get(self, sample_id: uuid.UUID) -> tuple[Sample, str | None]:
        found = await self.samples.get_with_subject(self.access.project_id, sample_id)
        if found is None:
            raise SampleNotFound(f"No sample {sample_id} in this project.")
        return found

    async def get_read(self, sample_id: uuid.UUID) -> SampleRead:
        return SampleRead.of(*await self.get(sample_id))

    async def list_samples(
        self,
        filters: RecordFilters,
        *,
        sample_type: str | None,
        subject_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[list[SampleRead], int]:
        filters.check()
        rows, count = await self.samples.list_in_project(
            self.access.project_id,
            filters,
            sample_type=sample_type,
            subject_id=subject_id,
            limit=limit,
            offset=offset,
        )
        return [SampleRead.of(sample, subject) for sample, subject in rows], count

    async def create(self, sample_create: SampleCreate) -> SampleRead:
        if await self.samples.existing_display_ids(
            self.access.project_id, [sample_create.display_id]
        ):
            raise SampleExists(
                f"This project already has a sample {sample_create.display_id!r}; change it "
                f"with PATCH /samples/{{id}} or pick another display_id."
            )
        subject = await self._subject(sample_create.subject_id)
        await self.check_files(sample_create.files)
        sample = new_sample(self.access, sample_create, subject)
        await self.samples.add_counted([sample])
        await self._record("sample.create", sample, {"display_id": sample.display_id})
        return SampleRead.of(sample, subject.display_id if subject else None)

    async def update(self, sample_id: uuid.UUID, sample_update: SampleUpdate) -> SampleRead:
        sample, subject_display_id = await self.get(sample_id)
        changes = sample_update.model_dump(exclude_unset=True)
        renamed = changes.get("display_id", sample.display_id) != sample.display_id
        if renamed and await self.samples.existing_display_ids(
            self.access.project_id, [changes["display_id"]]
        ):
            raise SampleExists(f"This project already has a sample {changes['display_id']!r}.")
        if "subject_id" in changes:
            subject = await self._subject(changes["subject_id"])
            subject_display_id = subject.display_id if subject else None
        if sample_update.files is not None:
            await self.check_files(sample_update.files)
            changes["files"] = [f.model_dump(exclude_none=True) for f in sample_update.files]
        if "tags" in changes:
            changes["tags"] = list(dict.fromkeys(changes["tags"]))
        await self.samples.update(sample, changes)
        sample.search_text = sample_search_text(sample, subject_display_id)
        await self.session.flush()
        await self._record("sample.update", sample, {"fields": sorted(changes)})
        return SampleRead.of(sample, subject_display_id)

    async def delete(self, sample_id: uuid.UUID) -> None:
        sample, _ = await self.get(sample_id)
        await refuse_if_ordered(self.samples, [sample.id])
        await self.samples.delete_counted(self.access.project_id, [sample.id])
        await self._record("sample.delete", sample, {"display_id": sample.display_id})

    async def sampleinfo(self, sample_id: uuid.UUID) -> SampleInfo:
        sample, subject_display_id = await self.get(sample_id)
        location = await self.admin.storage_location(self.access.project_id)
        subject = await self.subjects.get(sample.subject_id) if sample.subject_id else None
        return SampleInfo(
            sample=SampleRead.of(sample, subject_display_id),
            subject=SubjectInfo.model_validate(subject) if subject is not None else None,
            files=[
                ResolvedFileSet(
                    lane=file_set.get("lane"),
                    replicate=file_set.get("replicate"),
                    attributes=file_set.get("attributes", {}),
                    files={
                        role: ResolvedPath(path=path, uri=pipeline_uri(location.uri, path))
                        for role, path in file_set["paths"].items()
                    },
                )
                for file_set in sample.files
            ],
        )

    # -- shared with the import ---------------------------------------------

    async def check_files(self, file_sets: Sequence[FileSet | dict[str, Any]]) -> None:
        """Every project path names a file of the project (one batch call to files)."""
        paths = project_paths(file_sets)
        if not paths:
            return
        found, missing = await self.files.stat_many(
            self.caller_token, self.access.project_id, paths
        )
        folders = [entry["path"] for entry in found if entry.get("kind") == "folder"]
        if missing or folders:
            problems = [f"{path} is not in this project's files" for path in missing]
            problems += [f"{path} is a folder, not a file" for path in folders]
            raise SampleFilesMissing(
                f"{len(problems)} file(s) cannot be attached: {'; '.join(problems[:5])}. Upload "
                f"them first (POST /api/v1/files/upload-url) or fix the paths.",
                errors=[FieldProblem("files", problem, "missing") for problem in problems[:100]],
            )

    async def _subject(self, subject_id: uuid.UUID | None) -> Subject | None:
        if subject_id is None:
            return None
        subject = await self.subjects.get_in_project(self.access.project_id, subject_id)
        if subject is None:
            detail = f"No subject {subject_id} in this project."
            raise ValidationFailed(
                detail,
                errors=[FieldProblem("subject_id", detail, "not_found")],
            )
        return subject

    async def _record(self, action: str, sample: Sample, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "sample", sample.id, details
        )
