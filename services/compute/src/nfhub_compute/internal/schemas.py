from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from nfhub_compute.runs.states import RunState
from nfhub_shared.schemas import ReadSchema, Schema

MAX_RUN_IDS = 500


class RunStatesRequest(Schema):
    ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_RUN_IDS)


class RunStateRead(ReadSchema):
    id: uuid.UUID
    project_id: uuid.UUID
    state: RunState
    state_reason: str | None = None
    finished_at: datetime | None = None


class RunStates(ReadSchema):
    """The runs found, in no particular order; ids compute does not know are left out."""

    items: list[RunStateRead]
