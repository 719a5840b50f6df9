from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, cast, func, or_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.models import Run
from nfhub_compute.runs.states import RunState

# A task event updates its run's last_event_at at most this often: one run row is not
# locked by every event of a busy run.
TOUCH_INTERVAL = timedelta(seconds=2)
_WAKES = (RunState.INITIALIZING.value, RunState.UNKNOWN.value)


class RunEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def seen(self, run_id: uuid.UUID, now: datetime, values: dict[str, Any]) -> None:
        """The run is alive (INITIALIZING/UNKNOWN → RUNNING); keep the event's workflow values.

        A plain task event skips the update when the run is RUNNING and was touched in the
        last TOUCH_INTERVAL.
        """
        waking = Run.state.in_(_WAKES)
        changes: dict[str, Any] = {
            "last_event_at": now,
            "updated_at": now,
            "state": case((waking, RunState.RUNNING.value), else_=Run.state),
            "running_at": func.coalesce(Run.running_at, case((waking, now))),
            "state_reason": case((waking, None), else_=Run.state_reason),
        }
        for name, value in values.items():
            if value is None:
                continue
            if name == "workflow":
                changes[name] = Run.workflow.op("||")(cast(value, JSONB))
            else:
                changes[name] = value
        statement = update(Run).where(Run.id == run_id)
        if not any(value is not None for value in values.values()):
            statement = statement.where(
                or_(waking, Run.last_event_at.is_(None), Run.last_event_at < now - TOUCH_INTERVAL)
            )
        await self.session.execute(statement.values(**changes))
