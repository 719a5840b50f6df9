from __future__ import annotations

import uuid

from sqlalchemy import select

from nfhub_compute.models import Run
from nfhub_shared.db.repository import Repository


class TowerRunRepository(Repository[Run]):
    model = Run

    async def by_workflow_id(self, workflow_id: str, *, for_update: bool = False) -> Run | None:
        statement = select(Run).where(Run.tower_workflow_id == workflow_id)
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def external_by_session(
        self, project_id: uuid.UUID, session_id: str, run_name: str
    ) -> Run | None:
        """The external run a create with this session and run name made (a replayed create)."""
        return await self.session.scalar(
            select(Run).where(
                Run.project_id == project_id,
                Run.source == "external",
                Run.session_id == session_id,
                Run.name == run_name,
            )
        )
