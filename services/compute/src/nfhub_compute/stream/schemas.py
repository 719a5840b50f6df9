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


@dataclass(frozen=True)
class Snapshot:
    """Which transactions had committed at one moment (``pg_current_snapshot()``): a stream
    opened "from now" skips the events of those, wherever they stand in the feed. Its start,
    the horizon, lies below every transaction still running, so committed events can lie
    beyond it (xids are the whole server's: another database's open transaction suffices)."""

    xmin: int
    xmax: int
    running: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        """``xmin:xmax:xip,...`` as PostgreSQL writes a pg_snapshot."""
        xmin, xmax, running = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in running.split(",") if x))

    @property
    def start(self) -> Cursor:
        return Cursor(self.xmin, 0)

    def committed(self, xid: int) -> bool:
        return xid < self.xmin or (xid < self.xmax and xid not in self.running)


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
