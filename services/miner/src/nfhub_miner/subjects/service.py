"""Subjects: who samples come from; deleting one with samples needs ?cascade=true."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_miner.models import Subject
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.records.repository import SampleRecords
from nfhub_miner.records.search import subject_search_text
from nfhub_miner.records.service import refuse_if_ordered
from nfhub_miner.subjects.errors import SubjectExists, SubjectHasSamples, SubjectNotFound
from nfhub_miner.subjects.repository import SubjectRepository
from nfhub_miner.subjects.schemas import SubjectCreate, SubjectDeleted, SubjectRead, SubjectUpdate
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession


def new_subject(access: ProjectAccess, subject_create: SubjectCreate) -> Subject:
    """The row for a new subject (created by hand or by an import)."""
    subject = Subject(
        project_id=access.project_id,
        **subject_create.model_dump(exclude={"tags"}),
        tags=list(dict.fromkeys(subject_create.tags)),
        created_by=access.principal.subject,
    )
    subject.search_text = subject_search_text(subject)
    return subject


class SubjectService:
    def __init__(self, session: AsyncSession, audit: AuditWriter, access: ProjectAccess) -> None:
        self.session = session
        self.audit = audit
        self.access = access
        self.subjects = SubjectRepository(session)

    async def get(self, subject_id: uuid.UUID, *, for_update: bool = False) -> Subject:
        subject = await self.subjects.get_in_project(
            self.access.project_id, subject_id, for_update=for_update
        )
        if subject is None:
            raise SubjectNotFound(f"No subject {subject_id} in this project.")
        return subject

    async def get_read(self, subject_id: uuid.UUID) -> SubjectRead:
        subject = await self.get(subject_id)
        return SubjectRead.of(subject, await self.subjects.sample_count(subject.id))

    async def list_subjects(
        self, filters: RecordFilters, *, limit: int, offset: int
    ) -> tuple[list[SubjectRead], int]:
        filters.check()
        subjects, count = await self.subjects.list_in_project(
            self.access.project_id, filters, limit=limit, offset=offset
        )
        return [SubjectRead.of(subject) for subject in subjects], count

    async def create(self, subject_create: SubjectCreate) -> SubjectRead:
        await self._refuse_taken(subject_create.display_id)
        subject = new_subject(self.access, subject_create)
        await self.subjects.add_counted([subject])
        await self._record("subject.create", subject, {"display_id": subject.display_id})
        return SubjectRead.of(subject, 0)

    async def update(self, subject_id: uuid.UUID, subject_update: SubjectUpdate) -> SubjectRead:
        subject = await self.get(subject_id)
        changes = subject_update.model_dump(exclude_unset=True)
        if "display_id" in changes and changes["display_id"] != subject.display_id:
            await self._refuse_taken(changes["display_id"])
        if "tags" in changes:
            changes["tags"] = list(dict.fromkeys(changes["tags"]))
        await self.subjects.update(subject, changes)
        subject.search_text = subject_search_text(subject)
        await self.session.flush()
        await self._record("subject.update", subject, {"fields": sorted(changes)})
        return SubjectRead.of(subject, await self.subjects.sample_count(subject.id))

    async def delete(self, subject_id: uuid.UUID, *, cascade: bool) -> SubjectDeleted:
        """Delete the subject (and, with ``cascade``, its samples)."""
        subject = await self.get(subject_id, for_update=True)
        samples = SampleRecords(self.session)
        sample_ids = await samples.ids_of_subject(subject.id)
        if sample_ids and not cascade:
            raise SubjectHasSamples(
                f"Subject {subject.display_id} has {len(sample_ids)} sample(s); delete them "
                f"first, or delete with ?cascade=true to remove them too."
            )
        await refuse_if_ordered(samples, sample_ids)
        deleted = await samples.delete_counted(self.access.project_id, sample_ids)
        await self.subjects.delete_counted(self.access.project_id, [subject.id])
        await self._record(
            "subject.delete", subject, {"display_id": subject.display_id, "samples": deleted}
        )
        return SubjectDeleted(id=subject_id, samples_deleted=deleted)

    async def _refuse_taken(self, display_id: str) -> None:
        if await self.subjects.existing_display_ids(self.access.project_id, [display_id]):
            raise SubjectExists(
                f"This project already has a subject {display_id!r}; pick another display_id."
            )

    async def _record(self, action: str, subject: Subject, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "subject", subject.id, details
        )
