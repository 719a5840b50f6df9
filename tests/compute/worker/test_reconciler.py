"""The reconciler against the real local backend, on handles a worker could have left behind."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.backends.local import LocalBackend, _boot_id, process_identity
from nfhub_compute.config import Settings
from nfhub_compute.models import StoredRunMetrics
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler

Handle = Callable[..., dict[str, Any]]


@pytest.fixture
def backend(compute_settings: Settings) -> LocalBackend:
    return LocalBackend(compute_settings.WORK_ROOT)


@pytest.fixture
def reconciler(
    session_factory: Any, backend: LocalBackend, compute_settings: Settings
) -> Reconciler:
    settings = compute_settings.model_copy(update={"SILENCE_DEADLINE_SECONDS": 60})
    dispatcher = Dispatcher(session_factory, backend, settings, "test")
    return Reconciler(session_factory, backend, settings, dispatcher)


@pytest.fixture
def handle(backend: LocalBackend, tmp_path: Path) -> Handle:
    """A launcher handle as job.json holds it; by default this very test process."""

    def make(**changes: Any) -> dict[str, Any]:
        launch_dir = tmp_path / "launch"
        launch_dir.mkdir(exist_ok=True)
        identity = process_identity(os.getpid())
        assert identity is not None
        return {
            "run_id": "x",
            "pid": os.getpid(),
            "start_ticks": identity[0],
            "boot_id": _boot_id(),
            "host": backend.host,
            "launch_dir": str(launch_dir),
            **changes,
        }

    return make


@pytest.fixture
def ended_launcher(handle: Handle) -> Callable[[str], dict[str, Any]]:
    """The handle of a launcher that has ended (this pid, but started at another time),
    having left exit.json (exit code 0) and ``trace`` as its trace file."""

    def make(trace: str) -> dict[str, Any]:
        ended = handle()
        ended["start_ticks"] -= 1
        launch_dir = Path(ended["launch_dir"])
        (launch_dir / "exit.json").write_text('{"exit_code": 0}')
        (launch_dir / "trace.txt").write_text(trace)
        return ended

    return make


async def state_of(client: httpx.AsyncClient, team: Any, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/runs/{run_id}", headers=team.headers("viewer"))
    body: dict[str, Any] = response.json()
    return body


def long_ago(minutes: int = 10) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


class TestSilence:
    async def test_a_silent_run_the_backend_cannot_see_becomes_unknown_then_wakes(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
        compute_settings: Settings,
    ) -> None:
        run = (await launch()).json()
        # Launched by a worker on another machine: this one can neither confirm nor deny it.
        await set_run(
            run["id"], state="RUNNING", backend_handle=handle(host="other-host"),
            running_at=long_ago(), last_event_at=long_ago(), last_seen_at=long_ago(),
        )  # fmt: skip

        await reconciler.reconcile_once()
        silent = await state_of(compute_client, team, run["id"])
        event = await compute_client.post(
            f"/api/v1/runs/{run['id']}/events",
            params={"token": _token(compute_settings, run["id"])},
            json={"event": "process_submitted", "trace": {"task_id": 1, "status": "SUBMITTED"}},
        )
        awake = await state_of(compute_client, team, run["id"])

        assert silent["state"] == "UNKNOWN" and silent["unknown_at"] is not None
        assert "no answer from the local backend for over 60 s" in silent["state_reason"]
        assert event.status_code == 204
        assert (awake["state"], awake["state_reason"]) == ("RUNNING", None)

    async def test_the_backends_answer_also_brings_it_back(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(
            run["id"], state="UNKNOWN", backend_handle=handle(), last_event_at=long_ago(),
            last_seen_at=long_ago(),
        )  # fmt: skip

        await reconciler.reconcile_once()

        assert (await state_of(compute_client, team, run["id"]))["state"] == "RUNNING"

    async def test_a_silent_run_the_backend_sees_alive_stays_running(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(
            run["id"], state="RUNNING", backend_handle=handle(), running_at=long_ago(),
            last_event_at=long_ago(), last_seen_at=long_ago(),
        )  # fmt: skip

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert seen["state"] == "RUNNING"


class TestLostLaunchers:
    async def test_a_reused_pid_is_not_the_launcher(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        # This pid is alive, but it started at another time: the launcher it was is gone.
        wrong = handle()
        wrong["start_ticks"] -= 1
        await set_run(run["id"], state="RUNNING", backend_handle=wrong)

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert seen["state"] == "SYSTEM_ERROR"
        assert f"pid {os.getpid()}" in seen["state_reason"]
        assert "left no exit code" in seen["state_reason"]

    async def test_a_launcher_from_before_a_reboot_is_gone(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="RUNNING", backend_handle=handle(boot_id="an-earlier-boot"))

        await reconciler.reconcile_once()

        assert (await state_of(compute_client, team, run["id"]))["state"] == "SYSTEM_ERROR"

    async def test_a_canceling_run_whose_launcher_is_gone_is_canceled(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        handle: Handle,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        gone = handle()
        gone["start_ticks"] -= 1
        await set_run(run["id"], state="CANCELING", backend_handle=gone)

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert (seen["state"], seen["exit_code"]) == ("CANCELED", None)


class TestEndedLaunchers:
    async def test_a_run_whose_started_event_never_came_starts_at_its_first_task(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        ended_launcher: Callable[[str], dict[str, Any]],
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        # The worker died while Nextflow ran: no weblog event came, only exit.json and the trace.
        first, second = 1_700_000_000_000, 1_700_000_060_000
        ended = ended_launcher(
            "task_id\tprocess\tstatus\tsubmit\tstart\tcomplete\n"
            f"2\tHELLO\tCOMPLETED\t{second}\t{second}\t{second + 1000}\n"
            f"1\tHELLO\tCOMPLETED\t{first}\t{first + 500}\t{first + 1000}\n"
        )
        await set_run(run["id"], state="RUNNING", backend_handle=ended)

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert seen["state"] == "COMPLETE"
        assert seen["workflow_started_at"] is not None
        started = datetime.fromisoformat(seen["workflow_started_at"])
        assert started == datetime.fromtimestamp(first / 1000, UTC)
        assert seen["tasks"]["succeeded"] == 2

    async def test_the_ended_runs_metrics_are_stored_with_the_trace_counted(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        ended_launcher: Callable[[str], dict[str, Any]],
        reconciler: Reconciler,
        session_factory: Any,
    ) -> None:
        run = (await launch()).json()
        # Only the trace file knows these tasks (no weblog event came).
        ended = ended_launcher(
            "task_id\tprocess\tstatus\t%cpu\tcpus\n"
            "1\tHELLO\tCOMPLETED\t50.0\t1\n2\tHELLO\tCOMPLETED\t150.0\t2\n"
            "3\tHELLO\tFAILED\t100.0\t4\n"
        )
        await set_run(run["id"], state="RUNNING", backend_handle=ended)

        await reconciler.reconcile_once()

        async with session_factory() as session:
            stored = await session.get(StoredRunMetrics, uuid.UUID(run["id"]))
        assert stored is not None and stored.final
        response = await compute_client.get(
            f"/api/v1/runs/{run['id']}/metrics", headers=team.headers("viewer")
        )
        body = response.json()
        assert body["computed_at"] == stored.computed_at.isoformat().replace("+00:00", "Z")
        (hello_metrics,) = body["processes"]
        assert hello_metrics["tasks"] == 3
        assert hello_metrics["cpu_percent"] == {
            "count": 3, "mean": 100.0, "min": 50.0, "q1": 75.0, "median": 100.0, "q3": 125.0,
            "max": 150.0,
        }  # fmt: skip
        assert hello_metrics["cpu_usage"]["median"] == 50.0  # 50/1, 75/2, 25/4

    async def test_the_started_event_keeps_its_time(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        ended_launcher: Callable[[str], dict[str, Any]],
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        ended = ended_launcher(
            "task_id\tprocess\tstatus\tsubmit\n1\tHELLO\tCOMPLETED\t1700000000000\n"
        )
        started = long_ago()
        await set_run(run["id"], state="RUNNING", backend_handle=ended, workflow_started_at=started)

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert datetime.fromisoformat(seen["workflow_started_at"]) == started


class TestUnrecordedSubmissions:
    async def test_a_claim_whose_dispatcher_died_is_submitted_again(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="INITIALIZING", initializing_at=long_ago())

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert seen["state"] == "INITIALIZING" and seen["submitted_at"] is not None

    async def test_a_fresh_claim_is_left_to_its_dispatcher(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="INITIALIZING", initializing_at=datetime.now(UTC))

        await reconciler.reconcile_once()

        assert (await state_of(compute_client, team, run["id"]))["submitted_at"] is None

    async def test_a_claim_canceled_before_launch_ends_canceled(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        reconciler: Reconciler,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="CANCELING", initializing_at=long_ago())

        await reconciler.reconcile_once()

        seen = await state_of(compute_client, team, run["id"])
        assert (seen["state"], seen["state_reason"]) == (
            "CANCELED", "Canceled before it was launched."
        )  # fmt: skip


def _token(settings: Settings, run_id: str) -> str:
    import uuid

    from nfhub_compute.runs.weblog import weblog_token

    return weblog_token(settings, uuid.UUID(run_id))
