"""The run event feed's SQL: reading ``run_events`` in (xid, id) order, below the oldest
transaction still running (migration 0006_run_event_feed says why)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnClause, delete, func, literal_column, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_compute.models import RunEvent
from nfhub_compute.stream.schemas import Cursor, FeedEvent, Snapshot

CHANNEL = "nfhub_run_events"
# The oldest transaction still running, as a 64-bit xid: rows of older transactions have all
# committed or rolled back, so nothing can appear below it any more.
XMIN: ColumnClause[int] = literal_column("pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
SNAPSHOT: ColumnClause[str] = literal_column("pg_current_snapshot()::text")


class RunEventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def horizon(self) -> Cursor:
        """The position before every row not yet readable: where a new reader starts."""
        xmin = await self.session.scalar(select(XMIN))
        return Cursor(int(xmin or 0), 0)

    async def snapshot(self) -> Snapshot:
        """What had committed now: where a reader "from now" starts, and what it skips."""
        return Snapshot.parse(str(await self.session.scalar(select(SNAPSHOT))))

    async def position_of(self, event_id: int, project_id: uuid.UUID) -> Cursor | None:
        """The position of one event of a project (None when unknown, or pruned)."""
        xid = await self.session.scalar(
            select(RunEvent.xid).where(RunEvent.id == event_id, RunEvent.project_id == project_id)
        )
        return None if xid is None else Cursor(int(xid), event_id)

    async def last_id_of_run(self, run_id: uuid.UUID) -> int | None:
        """The id of the run's last event still kept, in feed order."""
        return await self.session.scalar(
            select(RunEvent.id)
            .where(RunEvent.run_id == run_id)
            .order_by(RunEvent.xid.desc(), RunEvent.id.desc())
            .limit(1)
        )

    async def read(
        self,
        after: Cursor,
        *,
        limit: int,
        run_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None,
        kinds: Sequence[str] = (),
        states: Sequence[str] = (),
    ) -> tuple[list[FeedEvent], Cursor, bool]:
        """Up to ``limit`` readable events after ``after`` in feed order; the position up to
        which the feed has been seen (past every readable row when all fitted); whether rows
        beyond are committed but not yet readable (an older transaction still runs)."""
        events = RunEvent.__table__.c
        feed = (
            select(
                events.id,
                events.xid,
                events.run_id,
                events.project_id,
                events.kind,
                events.state,
                events.data,
                events.created_at,
            )
            .where(tuple_(events.xid, events.id) > tuple_(after.xid, after.id))
            .order_by(events.xid, events.id)
            .limit(limit + 1)
        )
        if run_id is not None:
            feed = feed.where(events.run_id == run_id)
        if project_id is not None:
            feed = feed.where(events.project_id == project_id)
        if kinds:
            feed = feed.where(events.kind.in_(kinds))
        if states:
            feed = feed.where(events.state.in_(states))
        # The horizon and the rows from one statement, hence one snapshot: a horizon read in a
        # later statement could pass rows that committed in between, unread.
        horizon = select(XMIN.label("xmin")).subquery("horizon")
        rows_after = feed.lateral("feed")
        statement = (
            select(horizon.c.xmin, rows_after)
            .select_from(horizon.outerjoin(rows_after, true()))
            .order_by(rows_after.c.xid, rows_after.c.id)
        )
        rows = (await self.session.execute(statement)).all()
        xmin = int(rows[0].xmin)
        found: list[FeedEvent] = []
        held_back = False
        complete = True
        for row in rows:
            if row.id is None:  # no row after ``after``: the horizon alone
                break
            if row.xid >= xmin:
                held_back = True
                break
            if len(found) == limit:
                complete = False
                break
            found.append(
                FeedEvent(
                    id=row.id,
                    xid=row.xid,
                    run_id=row.run_id,
                    project_id=row.project_id,
                    kind=row.kind,
                    state=row.state,
                    data=row.data,
                    at=row.created_at,
                )
            )
        if complete:
            return found, max(after, Cursor(xmin, 0)), held_back
        return found, found[-1].cursor, held_back

    async def prune(self, before: datetime) -> int:
        """Drop the events written before ``before``; how many went."""
        result = await self.session.execute(delete(RunEvent).where(RunEvent.created_at < before))
        return int(getattr(result, "rowcount", 0) or 0)

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(RunEvent)) or 0)
