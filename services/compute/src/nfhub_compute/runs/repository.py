from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, exists, func, not_, or_, select, text, update

from nfhub_compute.models import (
    LIVE_STATES,
    ComputeEnv,
    ComputeWorker,
    PipelineVersion,
    Run,
    worker_scope,
)
from nfhub_compute.runs.schemas import RunFilter
from nfhub_compute.runs.states import RunState, states_that_can_move_to
from nfhub_shared.db.repository import Repository

# Woken by every change the worker should act on promptly (a new run, a cancel request).
NOTIFY_CHANNEL = "nfhub_compute_runs"
# Announces every run that reaches a final state, to other services (miner moves its orders):
# JSON {"run_id", "project_id", "state"}, delivered when the move commits.
RUN_END_CHANNEL = "nfhub_runs"


class RunRepository(Repository[Run]):
    model = Run

    async def get_in_project(
        self, project_id: uuid.UUID, run_id: uuid.UUID, *, for_update: bool = False
    ) -> Run | None:
        statement = select(Run).where(Run.id == run_id, Run.project_id == project_id)
        if for_update:
            # Locked, the row as it is now: a run this session read before may have moved
            # since (ended, say), and the identity map would hand back that older state.
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return await self.session.scalar(statement)

    async def list_in_project(
        self, project_id: uuid.UUID, run_filter: RunFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Run], int]:
        statement = select(Run).where(Run.project_id == project_id)
        if run_filter.states:
            statement = statement.where(Run.state.in_(run_filter.states))
        if run_filter.pipeline_slug is not None:
            statement = statement.where(Run.pipeline_slug == run_filter.pipeline_slug)
        if run_filter.label is not None:
            statement = statement.where(Run.labels.contains([run_filter.label]))
        if run_filter.order_id is not None:
            statement = statement.where(Run.order_id == run_filter.order_id)
        if run_filter.created_after is not None:
            statement = statement.where(Run.created_at >= run_filter.created_after)
        if run_filter.created_before is not None:
            statement = statement.where(Run.created_at < run_filter.created_before)
        statement = statement.order_by(Run.created_at.desc(), Run.id.desc())
        return await self.paginate(statement, limit=limit, offset=offset)

    async def in_ids(self, run_ids: Sequence[uuid.UUID]) -> Sequence[Run]:
        """The runs of these ids, in any project (for other services, never for users)."""
        if not run_ids:
            return []
        return (await self.session.scalars(select(Run).where(Run.id.in_(run_ids)))).all()

    async def reload(self, run: Run) -> None:
        """Read the run's row again (after an UPDATE statement changed it)."""
        await self.session.refresh(run)

    async def notify(self, payload: str) -> None:
        """Wake the workers when this transaction commits (NOTIFY is delivered at COMMIT)."""
        await self.session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": payload},
        )

    async def move(
        self,
        run_id: uuid.UUID,
        target: RunState,
        values: dict[str, Any],
        now: datetime,
        *,
        fill: dict[str, Any] | None = None,
    ) -> bool:
        """Move the run to ``target`` if that is a legal move from its current state; ``fill``
        sets columns that are still null (what an event may have set first is kept). A final
        state is announced on RUN_END_CHANNEL in the same transaction."""
        filled = {
            name: func.coalesce(getattr(Run, name), value) for name, value in (fill or {}).items()
        }
        result = await self.session.scalars(
            update(Run)
            .where(Run.id == run_id, Run.state.in_(states_that_can_move_to(target)))
            .values(state=target.value, updated_at=now, **values, **filled)
            .returning(Run.project_id)
        )
        project_id = result.first()
        if project_id is None:
            return False
        if target.terminal:
            payload = {"run_id": str(run_id), "project_id": str(project_id), "state": target.value}
            await self.session.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": RUN_END_CHANNEL, "payload": json.dumps(payload)},
            )
        return True

    # -- the worker's side -------------------------------------------------------------------

    async def count_active_without_env(self, *, owner_host: str | None = None) -> int:
        """Live runs on the worker's own backend (those without a compute environment); on one
        host only, when ``owner_host`` is given (the default backend is bound to its host)."""
        statement = (
            select(func.count())
            .select_from(Run)
            .where(Run.state.in_(LIVE_STATES), Run.compute_env_id.is_(None))
        )
        if owner_host is not None:
            statement = statement.where(Run.owner_host == owner_host)
        return int(await self.session.scalar(statement) or 0)

    async def claim_queued(
        self,
        worker_id: str,
        limit: int,
        now: datetime,
        *,
        free_without_env: int,
        host: str | None = None,
    ) -> list[uuid.UUID]:
        """Mark the oldest queued runs INITIALIZING for this worker (owned by its ``host``);
        others skip locked rows.

        Within limits: at most ``free_without_env`` runs without an environment (the caller
        counts COMPUTE_MAX_ACTIVE_RUNS per host when its own backend is bound to its host),
        and for each environment as many as its max_active_runs leaves beside its live runs,
        on all hosts together (the oldest first in each). Two workers claiming at once see the
        same candidates, and one skips what the other locked, so together they stay within the
        limits.

        The locked rows are picked once, in a materialized CTE: as an ``IN (subquery)`` the
        planner may run the LIMITed subquery again per row and claim more than ``limit``.
        """
        active = (
            select(Run.compute_env_id, func.count().label("live"))
            .where(Run.state.in_(LIVE_STATES), Run.compute_env_id.is_not(None))
            .group_by(Run.compute_env_id)
            .subquery()
        )
        ranked = (
            select(
                Run.id,
                Run.compute_env_id,
                Run.created_at,
                func.row_number()
                .over(partition_by=Run.compute_env_id, order_by=(Run.created_at, Run.id))
                .label("rank"),
            )
            .where(Run.state == RunState.QUEUED.value)
            .subquery()
        )
        within = (
            select(ranked.c.id)
            .outerjoin(ComputeEnv, ComputeEnv.id == ranked.c.compute_env_id)
            .outerjoin(active, active.c.compute_env_id == ranked.c.compute_env_id)
            .where(
                or_(
                    and_(ranked.c.compute_env_id.is_(None), ranked.c.rank <= free_without_env),
                    ranked.c.rank <= ComputeEnv.max_active_runs - func.coalesce(active.c.live, 0),
                )
            )
        )
        picked = (
            select(Run.id)
            .where(Run.id.in_(within), Run.state == RunState.QUEUED.value)
            .order_by(Run.created_at, Run.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("picked")
            .prefix_with("MATERIALIZED")
        )
        queued = select(picked.c.id)
        result = await self.session.scalars(
            update(Run)
            .where(Run.id.in_(queued), Run.state == RunState.QUEUED.value)
            .values(
                state=RunState.INITIALIZING.value,
                initializing_at=now,
                claimed_by=worker_id,
                owner_host=host,
                updated_at=now,
            )
            .returning(Run.id)
            .execution_options(synchronize_session=False)
        )
        return list(result.all())

    async def with_version(self, run_id: uuid.UUID) -> tuple[Run, PipelineVersion] | None:
        row = (
            await self.session.execute(
                select(Run, PipelineVersion)
                .join(PipelineVersion, PipelineVersion.id == Run.pipeline_version_id)
                .where(Run.id == run_id)
            )
        ).first()
        return (row[0], row[1]) if row is not None else None

    async def record_submission(
        self,
        run_id: uuid.UUID,
        *,
        handle: dict[str, Any],
        launch_dir: str | None,
        work_dir: str | None,
        now: datetime,
    ) -> bool:
        """Keep the backend's handle; False when the run was finished meanwhile (canceled)."""
        result = await self.session.scalars(
            update(Run)
            .where(
                Run.id == run_id,
                Run.backend_handle.is_(None),
                Run.state.in_((RunState.INITIALIZING.value, RunState.CANCELING.value)),
            )
            .values(
                backend_handle=handle,
                launch_dir=launch_dir,
                work_dir=work_dir,
                submitted_at=now,
                last_seen_at=now,
                updated_at=now,
            )
            .returning(Run.id)
        )
        return result.first() is not None

    async def live(
        self,
        *,
        after: uuid.UUID | None,
        limit: int,
        owned_by: str | None = None,
        host_bound: Sequence[str] = (),
    ) -> Sequence[Run]:
        """A batch of runs the reconciler watches, in id order (keyset paging).

        With ``owned_by``: the runs of the ``host_bound`` backends that host owns. Without:
        every run but those (the runs any worker may watch).
        """
        statement = select(Run).where(
            Run.state.in_(LIVE_STATES), worker_scope(owned_by, host_bound)
        )
        if after is not None:
            statement = statement.where(Run.id > after)
        return (await self.session.scalars(statement.order_by(Run.id).limit(limit))).all()

    async def ownerless(
        self, host_bound: Sequence[str], alive_since: datetime, *, limit: int
    ) -> Sequence[tuple[uuid.UUID, str]]:
        """(run, host) of running runs of the ``host_bound`` backends whose host has had no
        worker heartbeat since ``alive_since`` (and that are not yet marked for it)."""
        if not host_bound:
            return []
        heartbeat = exists().where(
            ComputeWorker.host == Run.owner_host, ComputeWorker.last_seen_at >= alive_since
        )
        rows = await self.session.execute(
            select(Run.id, Run.owner_host)
            .where(
                Run.state.in_((RunState.RUNNING.value, RunState.UNKNOWN.value)),
                Run.backend.in_(host_bound),
                Run.owner_host.is_not(None),
                Run.owner_lost_at.is_(None),
                not_(heartbeat),
            )
            .order_by(Run.id)
            .limit(limit)
        )
        return [(row[0], str(row[1])) for row in rows]

    async def mark_owner_lost(
        self, run_ids: Sequence[uuid.UUID], reason: str, now: datetime
    ) -> list[uuid.UUID]:
        """RUNNING (or already UNKNOWN) → UNKNOWN because their owner is gone, in one
        statement; the ids of the runs it moved."""
        if not run_ids:
            return []
        result = await self.session.scalars(
            update(Run)
            .where(
                Run.id.in_(run_ids),
                Run.state.in_((RunState.RUNNING.value, RunState.UNKNOWN.value)),
                Run.owner_lost_at.is_(None),
            )
            .values(
                state=RunState.UNKNOWN.value,
                unknown_at=case(
                    (Run.state == RunState.UNKNOWN.value, func.coalesce(Run.unknown_at, now)),
                    else_=now,
                ),
                owner_lost_at=now,
                state_reason=reason,
                updated_at=now,
            )
            .returning(Run.id)
            .execution_options(synchronize_session=False)
        )
        return list(result)

    async def states_of(self, run_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not run_ids:
            return {}
        rows = await self.session.execute(select(Run.id, Run.state).where(Run.id.in_(run_ids)))
        return {row[0]: row[1] for row in rows}

    async def touch(self, run_id: uuid.UUID, values: dict[str, Any]) -> None:
        await self.session.execute(update(Run).where(Run.id == run_id).values(**values))
