"""The worker's own SQL: its heartbeat row, its coordination connection (LISTEN for
wake-ups, the advisory locks of the reconcilers), and what a reconciler pass has to do."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    delete,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by, insert

from nfhub_compute.backends.factory import HOST_BOUND_BACKENDS
from nfhub_compute.models import (
    LIVE_STATES,
    ComputeEnv,
    ComputeWorker,
    Run,
    StoredRunMetrics,
    TaskFileFetch,
    worker_scope,
)
from nfhub_shared.db.driver import DriverStatement, ReadConnection
from nfhub_shared.db.session import AsyncSession

# pg_try_advisory_lock key of the one reconciler: 'nfhub-compute-reconciler' hashed once.
RECONCILER_LOCK_KEY = 0x6E66_6875_6272_6563


def host_lock_key(host: str) -> int:
    """The advisory lock of one host's reconciler (a signed 64-bit key, as Postgres takes)."""
    digest = hashlib.blake2b(f"nfhub-compute-host:{host}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def listen(connection: Any, channel: str, callback: Any) -> None:
    """``connection`` is asyncpg's (the driver connection under SQLAlchemy's)."""
    await connection.add_listener(channel, callback)


async def try_lock(connection: Any, key: int) -> bool:
    """Held for the life of this connection: closing it hands the lock to another worker."""
    return bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", key))


async def try_leader_lock(connection: Any) -> bool:
    return await try_lock(connection, RECONCILER_LOCK_KEY)


async def ping(connection: Any) -> None:
    await connection.fetchval("SELECT 1")


class WorkerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, worker: ComputeWorker, now: datetime) -> None:
        """Insert the worker's row, or note it alive."""
        values = {
            "id": worker.id,
            "host": worker.host,
            "name": worker.name,
            "pid": worker.pid,
            "version": worker.version,
            "backend": worker.backend,
            "started_at": worker.started_at,
            "last_seen_at": now,
            "created_at": now,
            "updated_at": now,
        }
        statement = insert(ComputeWorker).values(values)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[ComputeWorker.id],
                set_={"last_seen_at": now, "updated_at": now},
            )
        )

    async def prune(self, before: datetime) -> None:
        await self.session.execute(delete(ComputeWorker).where(ComputeWorker.last_seen_at < before))


@dataclass(frozen=True)
class PassWork:
    """What a reconciler pass has to do beyond its look for orphaned launchers.

    ``runs``: live runs it watches (for the leader, any live run: those of a silent host
    too); ``task_files``: task files the API asked for, of runs it may read; ``metrics``:
    running runs' metrics asked for anew (the leader's); ``envs``: the compute environments'
    ids and ``updated_at`` (what BackendPool keys a backend by), to reload them on a change.
    """

    runs: bool
    task_files: bool
    metrics: bool
    envs: str


def _sql(*values: str) -> list[ColumnElement[str]]:
    """Our constants written in the statement, not sent as parameters: a partial index's
    predicate (state = 'pending') must be seen in the plan the connection keeps prepared."""
    return [literal_column(f"'{value}'") for value in values]


def _pass_work(owned: bool, shared: bool) -> DriverStatement:
    """pass_work's statement for a worker that reconciles its host's runs (``owned``, of
    host ``:host``), every other run (``shared``), or both."""
    host_bound = _sql(*HOST_BOUND_BACKENDS)
    its_host = worker_scope(bindparam("host"), host_bound) if owned else false()
    # The leader watches every live run (a silent host's too: mark_ownerless_runs).
    runs_scope = true() if shared else its_host
    files_scope = or_(its_host, worker_scope(None, host_bound)) if shared else its_host
    live = exists().where(Run.state.in_(_sql(*LIVE_STATES)), runs_scope)
    files = exists().where(
        TaskFileFetch.state == _sql("pending")[0], Run.id == TaskFileFetch.run_id, files_scope
    )
    metrics = (
        exists().where(StoredRunMetrics.refresh_requested_at.is_not(None)) if shared else false()
    )
    envs = select(
        func.coalesce(
            func.string_agg(
                func.concat(ComputeEnv.id, literal_column("'@'"), ComputeEnv.updated_at),
                aggregate_order_by(literal_column("','"), ComputeEnv.id),
            ),
            literal_column("''"),
        )
    ).scalar_subquery()
    return DriverStatement(select(live, files, metrics, envs))


_PASS_WORK = {(owned, shared): _pass_work(owned, shared) for owned in (True, False)
              for shared in (True, False) if owned or shared}  # fmt: skip
_ANY_QUEUED = DriverStatement(select(exists().where(Run.state == _sql("QUEUED")[0])))


async def pass_work(connection: ReadConnection, *, owned_by: str | None, shared: bool) -> PassWork:
    """One statement, each part an index probe: what an idle pass costs, besides the look
    for orphaned launchers."""
    statement = _PASS_WORK[(owned_by is not None, shared)]
    values = {"host": owned_by} if owned_by is not None else {}
    [row] = await statement.fetch(connection, **values)
    return PassWork(runs=row[0], task_files=row[1], metrics=row[2], envs=row[3])


async def any_queued(connection: ReadConnection) -> bool:
    """Whether a run waits to be claimed (the dispatcher's idle poll, before any claim)."""
    [row] = await _ANY_QUEUED.fetch(connection)
    return bool(row[0])
