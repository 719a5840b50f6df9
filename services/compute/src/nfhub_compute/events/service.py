"""Nextflow's weblog events for a run: tasks upserted, the run marked alive.

Ingestion is idempotent and order-tolerant: a replayed event changes nothing, and tasks only
move up their status ranking. The run's final state is not decided here: the launcher's exit
code is (see worker.reconciler), because the weblog is best effort and may lose events.
"""

from __future__ import annotations

import uuid

from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import Event, read_event
from nfhub_compute.runs.weblog import weblog_token_valid
from nfhub_compute.state import EventSink
from nfhub_shared.errors import Unauthorized


class EventService:
    def __init__(self, settings: Settings, writer: EventSink) -> None:
        self.settings = settings
        self.writer = writer

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
        """Store one event through the process's writer: returns once it is committed, with
        the events of whatever other requests came meanwhile (group commit)."""
        await self.writer.store(run_id, event)
