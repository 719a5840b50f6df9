"""Subjects: who samples come from; deleting one with samples needs ?cascade=true."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_miner.fields import search_query, search_text
from nfhub_miner.models import Subject
from nfhub_miner.samples.repository import SampleRepository
from nfhub_miner.samples.service import SampleService
from nfhub_miner.subjects.errors import SubjectExists, SubjectHasSamples, SubjectNotFound
from nfhub_miner.subjects.repository import SubjectRepository
from nfhub_miner.subjects.schemas import SubjectCreate, SubjectUpdate
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.errors import FieldProblem, ValidationFailed

SUBJECT_FIELDS = (
    "id",
    "display_id",
    "sex",
    "date_of_birth",
    "external_id",
    "diagnosis",
    "tags",
    "properties",
    "created_by",
    "created_at",
    "updated_at",
)


def subject_view(subject: Subject, sample_count: int | None = None) -> dict[str, Any]:
    return {
        **{name: getattr(subject, name) for name in SUBJECT_FIELDS},
        "sample_count": sample_count,
    }


def subject_search_text(subject: Subject) -> str:
    return search_text(
        subject.display_id,
        subject.external_id,
        subject.diagnosis,
        subject.tags,
        subject.properties,
    )


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

    async def get_view(self, subject_id: uuid.UUID) -> dict[str, Any]:
        subject = await self.get(subject_id)
        return subject_view(subject, await self.subjects.sample_count(subject.id))

    async def list_subjects(
        self,
        *,
        query: str | None,
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
        subjects, count = await self.subjects.list_in_project(
            self.access.project_id,
            query=query,
            tag=tag,
            created_after=created_after,
            created_before=created_before,
            limit=limit,
            offset=offset,
        )
        return [subject_view(subject) for subject in subjects], count

    async def create(self, subject_create: SubjectCreate) -> dict[str, Any]:
        await self._refuse_taken(subject_create.display_id)
        subject = Subject(
            project_id=self.access.project_id,
            **subject_create.model_dump(exclude={"tags"}),
            tags=list(dict.fromkeys(subject_create.tags)),
            created_by=self.access.principal.subject,
        )
        subject.search_text = subject_search_text(subject)
        await self.subjects.add_counted(subject)
        await self._record("subject.create", subject, {"display_id": subject.display_id})
        return subject_view(subject, 0)

    async def update(self, subject_id: uuid.UUID, subject_update: SubjectUpdate) -> dict[str, Any]:
        subject = await self.get(subject_id)
        changes = subject_update.model_dump(exclude_unset=True)
        for required in ("display_id", "sex", "tags", "properties"):
            if required in changes and changes[required] is None:
                raise ValidationFailed(
                    f"{required} cannot be null; leave it out to keep it.",
                    errors=[FieldProblem(required, "null")],
                )
        if "display_id" in changes and changes["display_id"] != subject.display_id:
            await self._refuse_taken(changes["display_id"])
        if "tags" in changes:
            changes["tags"] = list(dict.fromkeys(changes["tags"]))
        await self.subjects.update(subject, changes)
        subject.search_text = subject_search_text(subject)
        await self.session.flush()
        await self._record("subject.update", subject, {"fields": sorted(changes)})
        return subject_view(subject, await self.subjects.sample_count(subject.id))

    async def delete(self, subject_id: uuid.UUID, *, cascade: bool, samples: SampleService) -> int:
        """Delete the subject (and, with ``cascade``, its samples); returns samples deleted."""
        subject = await self.get(subject_id, for_update=True)
        sample_ids = await SampleRepository(self.session).ids_of_subject(subject.id)
        if sample_ids and not cascade:
            raise SubjectHasSamples(
                f"Subject {subject.display_id} has {len(sample_ids)} sample(s); delete them "
                f"first, or delete with ?cascade=true to remove them too."
            )
        await samples.refuse_if_ordered(sample_ids)
        deleted = await SampleRepository(self.session).delete_counted(
            self.access.project_id, sample_ids
        )
        await self.subjects.delete_counted(subject)
        await self._record(
            "subject.delete", subject, {"display_id": subject.display_id, "samples": deleted}
        )
        return deleted

    async def _refuse_taken(self, display_id: str) -> None:
        if await self.subjects.by_display_ids(self.access.project_id, [display_id]):
            raise SubjectExists(
                f"This project already has a subject {display_id!r}; pick another display_id."
            )

    async def _record(self, action: str, subject: Subject, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "subject", subject.id, details
        )
