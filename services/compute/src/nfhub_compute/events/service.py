"""Nextflow's weblog events for a run: tasks upserted, the run marked alive.

Ingestion is idempotent and order-tolerant: a replayed event changes nothing, and tasks only
move up their status ranking. The run's final state is not decided here: the launcher's exit
code is (see worker.reconciler), because the weblog is best effort and may lose events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import (
    completed_values,
    read_event,
    started_values,
    task_values,
)
from nfhub_compute.events.repository import RunEventRepository
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.weblog import weblog_token_valid
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_shared.errors import Unauthorized


class EventService:
    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings

    def authenticate(self, run_id: uuid.UUID, token: str | None) -> None:
        if not token or not weblog_token_valid(self.settings, run_id, token):
            raise Unauthorized(
                "The weblog token does not belong to this run; Nextflow must post to the "
                "-with-weblog URL nfhub gave it."
            )

    async def ingest(self, run_id: uuid.UUID, body: bytes) -> str:
        """Store one event; returns its kind ('' when it had none)."""
        event = read_event(body)
        values = {}
        if event.kind == "started":
            values = started_values(event.workflow)
        elif event.kind == "completed":
            values = completed_values(event.workflow)
        if event.trace is not None:
            row = task_values(event.trace)
            if row is not None:
                await TaskRepository(self.session).upsert(run_id, [row])
        await RunEventRepository(self.session).seen(run_id, datetime.now(UTC), values)
        if event.kind == "completed":
            # The launcher exits next: have the reconciler look soon rather than at its next pass.
            await RunRepository(self.session).notify(f"completed:{run_id}")
        return event.kind
