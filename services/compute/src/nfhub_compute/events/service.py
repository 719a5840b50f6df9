"""Nextflow's weblog events for a run: tasks upserted, the run marked alive.

Ingestion is idempotent and order-tolerant: a replayed event changes nothing, and tasks only
move up their status ranking. The run's final state is not decided here: the launcher's exit
code is (see worker.reconciler), because the weblog is best effort and may lose events.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import (
    Event,
    completed_values,
    read_event,
    started_values,
    task_values,
)
from nfhub_compute.events.repository import EventsConnect, RunEventRepository
from nfhub_compute.runs.weblog import weblog_token_valid
from nfhub_shared.errors import Unauthorized


class EventService:
    def __init__(self, settings: Settings, connect: EventsConnect) -> None:
        self.settings = settings
        self.connect = connect

    def authenticate(self, run_id: uuid.UUID, token: str | None) -> None:
        if not token or not weblog_token_valid(self.settings, run_id, token):
            raise Unauthorized(
                "The weblog token does not belong to this run; Nextflow must post to the "
                "-with-weblog URL nfhub gave it."
            )

    def read(self, body: bytes) -> Event:
        """The event in a request body (400 when it is not a JSON object), before any I/O."""
        return read_event(body)

    async def store(self, run_id: uuid.UUID, event: Event) -> None:
        """Store one event, committed before the response like every request's. On a connection
        of the autocommit engine (production), a plain task event is one statement: its own
        transaction, one round trip."""
        async with self.connect() as connection:
            await self._store(RunEventRepository(connection), run_id, event)
            await connection.commit()

    async def _store(self, events: RunEventRepository, run_id: uuid.UUID, event: Event) -> None:
        values = {}
        if event.kind == "started":
            values = started_values(event.workflow, event.params)
        elif event.kind == "completed":
            values = completed_values(event.workflow)
        row = task_values(event.trace) if event.trace is not None else None
        now = datetime.now(UTC)
        if row is not None and not values:
            await events.task_event(run_id, row, now)
        else:
            if row is not None:
                await events.tasks(run_id, [row])
            await events.seen(run_id, now, values)
        if event.kind == "completed":
            # The launcher exits next: have the reconciler look soon rather than at its next pass.
            await events.notify(f"completed:{run_id}")
