from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from nfhub_miner.counts import ProjectCountRepository
from nfhub_miner.fields import search_query
from nfhub_miner.models import Sample, Subject
from nfhub_shared.db.repository import Repository


class SubjectRepository(Repository[Subject]):
    model = Subject

    async def get_in_project(
        self, project_id: uuid.UUID, subject_id: uuid.UUID, *, for_update: bool = False
    ) -> Subject | None:
        statement = select(Subject).where(
            Subject.id == subject_id, Subject.project_id == project_id
        )
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def by_display_ids(
        self, project_id: uuid.UUID, display_ids: Sequence[str]
    ) -> dict[str, Subject]:
        if not display_ids:
            return {}
        rows = await self.session.scalars(
            select(Subject).where(
                Subject.project_id == project_id, Subject.display_id.in_(display_ids)
            )
        )
        return {subject.display_id: subject for subject in rows}

    async def list_in_project(
        self,
        project_id: uuid.UUID,
        *,
        query: str | None,
        tag: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Subject], int]:
        statement = select(Subject).where(Subject.project_id == project_id)
        filtered = False
        if query:
            statement = statement.where(
                Subject.search_vector.op("@@")(func.to_tsquery("simple", search_query(query)))
            )
            filtered = True
        if tag is not None:
            statement = statement.where(Subject.tags.contains([tag]))
            filtered = True
        if created_after is not None:
            statement = statement.where(Subject.created_at >= created_after)
            filtered = True
        if created_before is not None:
            statement = statement.where(Subject.created_at < created_before)
            filtered = True
        statement = statement.order_by(Subject.created_at.desc(), Subject.id.desc())
        if filtered:
            return await self.paginate(statement, limit=limit, offset=offset)
        rows = (await self.session.scalars(statement.limit(limit).offset(offset))).all()
        return rows, await ProjectCountRepository(self.session).get(project_id, "subjects")

    async def add_counted(self, subject: Subject) -> Subject:
        await self.add(subject)
        await ProjectCountRepository(self.session).change(subject.project_id, "subjects", 1)
        return subject

    async def delete_counted(self, subject: Subject) -> None:
        await self.delete(subject)
        await ProjectCountRepository(self.session).change(subject.project_id, "subjects", -1)

    async def sample_count(self, subject_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count()).select_from(Sample).where(Sample.subject_id == subject_id)
            )
            or 0
        )
