from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in the run event feed: events are read in (xid, id) order."""

    xid: int
    id: int


class EventKind(StrEnum):
    run = "run"
    progress = "progress"
    task = "task"
    log = "log"


# What the project stream carries: each run's state changes and counters (its tasks and log
# lines are on the run's own stream).
PROJECT_KINDS = (EventKind.run.value, EventKind.progress.value)


@dataclass(frozen=True)
class FeedEvent:
    id: int
    xid: int
    run_id: uuid.UUID
    project_id: uuid.UUID
    kind: str
    state: str
    data: dict[str, Any]
    at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.xid, self.id)

    @cached_property
    def sse(self) -> bytes:
        """The event as Server-Sent Events lines (JSON has no newline: one data line); made
        once, however many subscribers it goes to."""
        body = {"run_id": str(self.run_id), "run_state": self.state, "at": self.at.isoformat()}
        body.update(self.data)
        data = json.dumps(body, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.kind}\ndata: {data}\n\n".encode()
