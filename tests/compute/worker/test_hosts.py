"""Workers on many hosts: each host's local runs are its own worker's; a host that stops
heartbeating leaves them UNKNOWN until it comes back. Real local backends (one per host
identity), real processes, the database of the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.backends.local import LocalBackend, _boot_id, process_identity
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeWorker, Run
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.weblog import weblog_token
from nfhub_compute.stream.repository import RunEventRepository
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.heartbeat import Heartbeat
from nfhub_compute.worker.reconciler import Reconciler

HOST_A, HOST_B = "host-a", "host-b"
DEADLINE_SECONDS = 30.0

ReconcilerOf = Callable[[str], Reconciler]


def long_ago(minutes: int = 10) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def settings_of(settings: Settings, host: str) -> Settings:
    return settings.model_copy(
        update={
            "WORKER_HOST": host,
            "WORKER_HEARTBEAT_SECONDS": 1.0,
            "WORKER_DEADLINE_SECONDS": DEADLINE_SECONDS,
            "SILENCE_DEADLINE_SECONDS": 60.0,
            "CANCEL_GRACE_SECONDS": 30.0,
        }
    )


@pytest.fixture
def reconciler_of(session_factory: Any, compute_settings: Settings) -> ReconcilerOf:
    """The reconciler of a worker with that host identity."""

    def make(host: str) -> Reconciler:
        settings = settings_of(compute_settings, host)
        backend = LocalBackend(settings.WORK_ROOT, host=host)
        dispatcher = Dispatcher(session_factory, backend, settings, f"{host}:test")
        return Reconciler(session_factory, backend, settings, dispatcher)

    return make


async def beat(session_factory: Any, compute_settings: Settings, host: str) -> Heartbeat:
    heartbeat = Heartbeat(session_factory, settings_of(compute_settings, host), backend="local")
    await heartbeat.beat()
    return heartbeat


def handle_of(pid: int, host: str, launch_dir: Path) -> dict[str, Any]:
    launch_dir.mkdir(exist_ok=True)
    identity = process_identity(pid)
    assert identity is not None
    return {
        "run_id": "x",
        "pid": pid,
        "start_ticks": identity[0],
        "boot_id": _boot_id(),
        "host": host,
        "launch_dir": str(launch_dir),
    }


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A launcher stand-in in its own process group: what a cancel signals."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


async def read_run(session_factory: Any, run_id: str) -> Run:
    async with session_factory() as session:
        run = await RunRepository(session).get(uuid.UUID(run_id))
    assert run is not None
    return run


class TestOwnership:
    @pytest.mark.parametrize("state", ["RUNNING", "CANCELING"])
    async def test_a_run_of_another_live_host_is_left_to_it(
        self,
        state: str,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        reconciler_of: ReconcilerOf,
        sleeper: subprocess.Popen[bytes],
        tmp_path: Path,
    ) -> None:
        run = (await launch()).json()
        await set_run(
            run["id"], state=state, owner_host=HOST_B, running_at=long_ago(),
            last_event_at=long_ago(), last_seen_at=long_ago(),
            backend_handle=handle_of(sleeper.pid, HOST_B, tmp_path / "launch"),
        )  # fmt: skip
        await beat(session_factory, compute_settings, HOST_B)

        # host-a's worker, leader and reconciler of its own host: not its run to judge.
        await reconciler_of(HOST_A).reconcile_once(owned=True, shared=True)

        seen = await read_run(session_factory, run["id"])
        assert seen.state == state and seen.owner_lost_at is None
        assert seen.cancel_signalled_at is None and sleeper.poll() is None

    async def test_the_owner_cancels_its_run_and_ends_it(
        self,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        reconciler_of: ReconcilerOf,
        sleeper: subprocess.Popen[bytes],
        tmp_path: Path,
    ) -> None:
        run = (await launch()).json()
        await set_run(
            run["id"], state="CANCELING", owner_host=HOST_B,
            backend_handle=handle_of(sleeper.pid, HOST_B, tmp_path / "launch"),
        )  # fmt: skip
        await beat(session_factory, compute_settings, HOST_B)
        owner = reconciler_of(HOST_B)

        # The leader's pass alone (another worker of host-b holds the host's lock) skips it.
        await owner.reconcile_once(owned=False, shared=True)
        untouched = await read_run(session_factory, run["id"])
        await owner.reconcile_once(owned=True, shared=False)
        signalled = await read_run(session_factory, run["id"])
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
        await owner.reconcile_once(owned=True, shared=False)
        ended = await read_run(session_factory, run["id"])

        assert untouched.cancel_signalled_at is None
        assert signalled.state == "CANCELING" and signalled.cancel_signalled_at is not None
        assert ended.state == "CANCELED"

    @pytest.mark.parametrize(
        ("exit_code", "final_state"), [(None, "RUNNING"), (0, "COMPLETE"), (4, "EXECUTOR_ERROR")]
    )
    async def test_a_run_whose_host_stopped_heartbeating_is_unknown_until_its_owner_is_back(
        self,
        exit_code: int | None,
        final_state: str,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        reconciler_of: ReconcilerOf,
        tmp_path: Path,
    ) -> None:
        run = (await launch()).json()
        launch_dir = tmp_path / "launch"
        # The launcher is this test process: alive, or gone with an exit code (exit.json).
        handle = handle_of(os.getpid(), HOST_B, launch_dir)
        if exit_code is not None:
            handle["start_ticks"] -= 1
            (launch_dir / "exit.json").write_text(f'{{"exit_code": {exit_code}}}')
        await set_run(
            run["id"], state="RUNNING", owner_host=HOST_B, running_at=long_ago(),
            last_event_at=datetime.now(UTC), last_seen_at=datetime.now(UTC),
            backend_handle=handle,
        )  # fmt: skip
        host_b = await beat(session_factory, compute_settings, HOST_B)
        await set_last_seen(session_factory, host_b, long_ago())
        await beat(session_factory, compute_settings, HOST_A)

        await reconciler_of(HOST_A).reconcile_once()
        lost = await read_run(session_factory, run["id"])
        # Nextflow still posts its events; they do not make the run look watched again.
        event = await compute_client.post(
            f"/api/v1/runs/{run['id']}/events",
            params={"token": weblog_token(compute_settings, uuid.UUID(run["id"]))},
            json={"event": "process_submitted", "trace": {"task_id": 1, "status": "SUBMITTED"}},
        )
        still = await read_run(session_factory, run["id"])
        await beat(session_factory, compute_settings, HOST_B)  # host-b's worker is back
        await reconciler_of(HOST_B).reconcile_once(owned=True, shared=False)
        back = await read_run(session_factory, run["id"])

        assert lost.state == "UNKNOWN" and lost.owner_lost_at is not None
        assert lost.state_reason is not None
        assert f"No worker of host {HOST_B} has sent a heartbeat for over 30 s" in (
            lost.state_reason
        )
        assert event.status_code == 204
        assert still.state == "UNKNOWN" and still.state_reason == lost.state_reason
        assert back.state == final_state
        if exit_code is None:
            assert back.owner_lost_at is None and back.state_reason is None
        else:
            assert back.exit_code == exit_code

    async def test_the_runs_of_every_silent_host_are_marked_in_one_pass_each_with_its_host(
        self,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        reconciler_of: ReconcilerOf,
        tmp_path: Path,
    ) -> None:
        hosts: dict[str, list[str]] = {HOST_B: [], "host-c": []}
        for host, run_ids in hosts.items():
            silent = await beat(session_factory, compute_settings, host)
            await set_last_seen(session_factory, silent, long_ago())
            for number in range(3):
                run = (await launch()).json()
                handle = handle_of(os.getpid(), host, tmp_path / f"{host}-{number}")
                await set_run(run["id"], state="RUNNING", owner_host=host, backend_handle=handle)
                run_ids.append(run["id"])
        await beat(session_factory, compute_settings, HOST_A)

        await reconciler_of(HOST_A).reconcile_once()

        for host, run_ids in hosts.items():
            for run_id in run_ids:
                lost = await read_run(session_factory, run_id)
                assert lost.state == "UNKNOWN" and lost.owner_lost_at is not None
                assert f"No worker of host {host} has sent" in (lost.state_reason or "")

    async def test_a_host_that_heartbeats_keeps_its_runs(
        self,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        reconciler_of: ReconcilerOf,
        tmp_path: Path,
    ) -> None:
        run = (await launch()).json()
        await set_run(
            run["id"], state="RUNNING", owner_host=HOST_B,
            backend_handle=handle_of(os.getpid(), HOST_B, tmp_path / "launch"),
        )  # fmt: skip
        await beat(session_factory, compute_settings, HOST_B)

        await reconciler_of(HOST_A).reconcile_once()

        assert (await read_run(session_factory, run["id"])).state == "RUNNING"


async def set_last_seen(session_factory: Any, heartbeat: Heartbeat, when: datetime) -> None:
    from sqlalchemy import update

    async with session_factory() as session, session.begin():
        await session.execute(
            update(ComputeWorker)
            .where(ComputeWorker.id == heartbeat.worker.id)
            .values(last_seen_at=when)
        )


class TestHeartbeat:
    async def test_a_worker_inserts_its_row_then_refreshes_it(
        self, session_factory: Any, compute_settings: Settings
    ) -> None:
        heartbeat = await beat(session_factory, compute_settings, HOST_A)
        async with session_factory() as session:
            first = await session.get(ComputeWorker, heartbeat.worker.id)
            assert first is not None
            first_seen = first.last_seen_at
        await heartbeat.beat()
        async with session_factory() as session:
            again = await session.get(ComputeWorker, heartbeat.worker.id, populate_existing=True)

        assert again is not None
        assert (again.host, again.pid, again.backend) == (HOST_A, os.getpid(), "local")
        assert again.name.startswith(f"{HOST_A}:{os.getpid()}:")
        assert again.version and again.started_at <= first_seen < again.last_seen_at

    async def test_the_beat_is_committed_even_when_pruning_fails(
        self, session_factory: Any, compute_settings: Settings, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        heartbeat = Heartbeat(
            session_factory, settings_of(compute_settings, HOST_A), backend="local"
        )

        async def prune_fails(self: Any, before: datetime) -> int:
            raise ConnectionError("the prune's statement was cut off")

        monkeypatch.setattr(RunEventRepository, "prune", prune_fails)
        with pytest.raises(ConnectionError):
            await heartbeat.beat()

        async with session_factory() as session:
            row = await session.get(ComputeWorker, heartbeat.worker.id)
        assert row is not None and row.host == HOST_A
        assert heartbeat.beaten.is_set()

    def test_a_deadline_within_two_heartbeats_is_refused(self, compute_settings: Settings) -> None:
        values = compute_settings.model_dump() | {
            "WORKER_HEARTBEAT_SECONDS": 10,
            "WORKER_DEADLINE_SECONDS": 15,
        }
        with pytest.raises(ValueError, match="more than twice"):
            Settings(_env_file=None, **values)


class TestDispatch:
    async def test_a_claim_belongs_to_the_host_and_counts_against_its_limit_only(
        self,
        hello: Any,
        launch: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
    ) -> None:
        elsewhere = (await launch()).json()
        await set_run(elsewhere["id"], state="RUNNING", owner_host=HOST_B, backend="noop")
        queued = [(await launch()).json() for _ in range(2)]
        for run in queued:
            await set_run(run["id"], backend="noop")
        settings = settings_of(compute_settings, HOST_A).model_copy(update={"MAX_ACTIVE_RUNS": 1})
        dispatcher = Dispatcher(session_factory, NoopBackend(), settings, "host-a:test")

        # host-b's running run takes none of host-a's one slot; host-a's first claim does.
        claimed = await dispatcher.dispatch_once()
        again = await dispatcher.dispatch_once()

        first, second = [await read_run(session_factory, run["id"]) for run in queued]
        assert (claimed, again) == (1, 0)
        assert (first.owner_host, first.claimed_by) == (HOST_A, "host-a:test")
        assert (second.state, second.owner_host) == ("QUEUED", None)
