"""Samples: the lab's material and its data files, checked against the project's storage."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlparse

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_miner.fields import search_query, search_text
from nfhub_miner.models import Sample, Subject
from nfhub_miner.samples.errors import SampleExists, SampleFilesMissing, SampleInUse, SampleNotFound
from nfhub_miner.samples.repository import SampleRepository
from nfhub_miner.samples.schemas import FileSet, SampleCreate, SampleUpdate, is_external
from nfhub_miner.subjects.repository import SubjectRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.errors import FieldProblem, ValidationFailed

SAMPLE_FIELDS = (
    "id",
    "display_id",
    "sample_type",
    "tissue",
    "collection_date",
    "barcode",
    "external_id",
    "tags",
    "properties",
    "files",
    "created_by",
    "created_at",
    "updated_at",
)


def sample_view(sample: Sample, subject_display_id: str | None) -> dict[str, Any]:
    view = {name: getattr(sample, name) for name in SAMPLE_FIELDS}
    view["subject"] = (
        {"id": sample.subject_id, "display_id": subject_display_id}
        if sample.subject_id is not None
        else None
    )
    return view


def sample_search_text(sample: Sample, subject_display_id: str | None = None) -> str:
    return search_text(
        sample.display_id,
        sample.external_id,
        sample.barcode,
        sample.tissue,
        subject_display_id,
        sample.tags,
        sample.properties,
    )


def pipeline_uri(storage_uri: str, path: str) -> str:
    """What a pipeline reads for ``path``: a URI as given, or the file in the project's
    storage (a plain path on local storage, the object's URI on S3)."""
    if is_external(path):
        return path
    uri = storage_uri + path
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


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
        found = await self.samples.get_in_project(self.access.project_id, sample_id)
        if found is None:
            raise SampleNotFound(f"No sample {sample_id} in this project.")
        return found

    async def get_view(self, sample_id: uuid.UUID) -> dict[str, Any]:
        return sample_view(*await self.get(sample_id))

    async def list_samples(
        self,
        *,
        query: str | None,
        sample_type: str | None,
        subject_id: uuid.UUID | None,
        tag: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[dict[str, Any]], int]:
        if query is not None and search_query(query) is None:
            raise ValidationFailed(
                "q needs letters or digits: it matches words of ids, tags and properties.",
                errors=[FieldProblem("q", "no words")],
            )
        rows, count = await self.samples.list_in_project(
            self.access.project_id,
            query=query,
            sample_type=sample_type,
            subject_id=subject_id,
            tag=tag,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            offset=offset,
        )
        return [sample_view(sample, subject) for sample, subject in rows], count

    async def create(self, sample_create: SampleCreate) -> dict[str, Any]:
        if await self.samples.existing_display_ids(
            self.access.project_id, [sample_create.display_id]
        ):
            raise SampleExists(
                f"This project already has a sample {sample_create.display_id!r}; change it "
                f"with PATCH /samples/{{id}} or pick another display_id."
            )
        subject = await self._subject(sample_create.subject_id)
        await self.check_files(sample_create.files)
        sample = Sample(
            project_id=self.access.project_id,
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
            created_by=self.access.principal.subject,
        )
        subject_display_id = subject.display_id if subject else None
        sample.search_text = sample_search_text(sample, subject_display_id)
        await self.samples.add_counted([sample])
        await self._record("sample.create", sample, {"display_id": sample.display_id})
        return sample_view(sample, subject_display_id)

    async def update(self, sample_id: uuid.UUID, sample_update: SampleUpdate) -> dict[str, Any]:
        sample, subject_display_id = await self.get(sample_id)
        changes = sample_update.model_dump(exclude_unset=True)
        for required in ("display_id", "sample_type", "tags", "properties", "files"):
            if required in changes and changes[required] is None:
                raise ValidationFailed(
                    f"{required} cannot be null; leave it out to keep it.",
                    errors=[FieldProblem(required, "null")],
                )
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
        return sample_view(sample, subject_display_id)

    async def delete(self, sample_id: uuid.UUID) -> None:
        sample, _ = await self.get(sample_id)
        await self.refuse_if_ordered([sample.id])
        await self.samples.delete_counted(self.access.project_id, [sample.id])
        await self._record("sample.delete", sample, {"display_id": sample.display_id})

    async def sampleinfo(self, sample_id: uuid.UUID) -> dict[str, Any]:
        sample, subject_display_id = await self.get(sample_id)
        location = await self.admin.storage_location(self.access.project_id)
        subject = await self.subjects.get(sample.subject_id) if sample.subject_id else None
        return {
            "sample": sample_view(sample, subject_display_id),
            "subject": subject_info(subject) if subject is not None else None,
            "files": [
                {
                    "lane": file_set.get("lane"),
                    "replicate": file_set.get("replicate"),
                    "attributes": file_set.get("attributes", {}),
                    "files": {
                        role: {"path": path, "uri": pipeline_uri(location.uri, path)}
                        for role, path in file_set["paths"].items()
                    },
                }
                for file_set in sample.files
            ],
        }

    # -- shared with the import and the subjects ---------------------------------------------

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

    async def refuse_if_ordered(self, sample_ids: Sequence[uuid.UUID]) -> None:
        ordered = await self.samples.orders_of(sample_ids)
        if ordered:
            listed = ", ".join(f"{s} in {o} ({status})" for s, o, status in ordered[:5])
            raise SampleInUse(
                f"Samples are in orders: {listed}. Remove them from the orders first; orders "
                f"past 'created' keep their samples for the record."
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


def subject_info(subject: Subject) -> dict[str, Any]:
    return {
        name: getattr(subject, name)
        for name in (
            "id",
            "display_id",
            "sex",
            "date_of_birth",
            "external_id",
            "diagnosis",
            "properties",
        )
    }
