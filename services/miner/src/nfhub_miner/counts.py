"""Per-project row counts, kept in the same transaction as each insert and delete."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_miner.models import ProjectCount


class ProjectCountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def change(self, project_id: uuid.UUID, kind: str, delta: int) -> None:
        if delta == 0:
            return
        statement = insert(ProjectCount).values(project_id=project_id, kind=kind, count=delta)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ProjectCount.project_id, ProjectCount.kind],
                set_={"count": ProjectCount.count + statement.excluded.count},
            )
        )

    async def get(self, project_id: uuid.UUID, kind: str) -> int:
        found = await self.session.scalar(
            select(ProjectCount.count).where(
                ProjectCount.project_id == project_id, ProjectCount.kind == kind
            )
        )
        return int(found or 0)
