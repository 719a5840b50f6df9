"""What other nfhub services ask compute with a service token (never users)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from nfhub_compute.models import Run
from nfhub_compute.runs.repository import RunRepository
from nfhub_shared.db.session import AsyncSession


class InternalQueries:
    def __init__(self, session: AsyncSession) -> None:
        self.runs = RunRepository(session)

    async def run_states(self, run_ids: Sequence[uuid.UUID]) -> Sequence[Run]:
        return await self.runs.in_ids(list(dict.fromkeys(run_ids)))
