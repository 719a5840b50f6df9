"""A read that locks a run sees the row as it is now, not as the session first loaded it.

WES's cancel loaded the run, then RunService.cancel locked it with SELECT … FOR UPDATE; a
run that ended in between came back with its old state from the session's identity map,
the guarded move found nothing to move, and the caller got a 500 (seen in a full run of
README block 12: the demo finished as its cancel came)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.runs.repository import RunRepository
from support.inprocess import Launch, SetRun


async def test_a_run_ended_since_it_was_read_is_seen_ended_once_locked(
    hello: Any,
    launch: Launch,
    team: Any,
    set_run: SetRun,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    run = (await launch()).json()
    run_id = uuid.UUID(run["id"])
    await set_run(run_id, state="RUNNING")
    async with session_factory() as session:
        runs = RunRepository(session)
        first = await runs.get_in_project(team.project_id, run_id)
        assert first is not None and first.state == "RUNNING"
        await set_run(run_id, state="COMPLETE")  # another transaction: the run ended

        locked = await runs.get_in_project(team.project_id, run_id, for_update=True)

    assert locked is not None and locked.state == "COMPLETE"
