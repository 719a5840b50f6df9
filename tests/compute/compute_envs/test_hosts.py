"""Compute environments on many worker hosts: a run in a local environment belongs to the host
that claimed it, like one on a worker's own local backend; a Slurm environment's runs are any
worker's; environment limits count every host's runs, COMPUTE_MAX_ACTIVE_RUNS only this
host's. Real local backends (one per host identity), this test process as the launcher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from nfhub_compute.backends.factory import HOST_BOUND_BACKENDS
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.config import Settings
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler

HOST_A, HOST_B = "host-a", "host-b"


def on_host(settings: Settings, host: str, **values: Any) -> Settings:
    return settings.model_copy(update={"WORKER_HOST": host, **values})


def reconciler_of(session_factory: Any, settings: Settings, host: str) -> Reconciler:
    settings = on_host(settings, host)
    default = LocalBackend(settings.WORK_ROOT, host=host)
    dispatcher = Dispatcher(session_factory, default, settings, f"{host}:test")
    return Reconciler(session_factory, default, settings, dispatcher)


async def ids(session_factory: Any, **where: Any) -> set[str]:
    async with session_factory() as session:
        runs = await RunRepository(session).live(
            after=None, limit=1000, host_bound=HOST_BOUND_BACKENDS, **where
        )
    return {str(run.id) for run in runs}


class TestWhoFollowsARun:
    def test_local_and_noop_runs_are_host_bound_slurm_ones_are_not(self) -> None:
        assert set(HOST_BOUND_BACKENDS) == {"local", "noop"}

    async def test_a_local_environments_run_is_its_hosts_a_slurm_environments_anyones(
        self, hello: Any, launch: Any, new_env: Any, set_run: Any, session_factory: Any
    ) -> None:
        local = (await new_env()).json()
        slurm = (await new_env(name="hpc", backend="slurm")).json()
        in_local = (await launch(compute_env_id=local["id"])).json()["id"]
        in_slurm = (await launch(compute_env_id=slurm["id"])).json()["id"]
        for run_id in (in_local, in_slurm):
            await set_run(run_id, state="RUNNING", owner_host=HOST_B)

        host_b, host_a, shared = (
            await ids(session_factory, owned_by=HOST_B),
            await ids(session_factory, owned_by=HOST_A),
            await ids(session_factory),
        )
        async with session_factory() as session:
            # No worker of host-b has ever beaten: only its local run is left without a watcher.
            ownerless = await RunRepository(session).ownerless(
                HOST_BOUND_BACKENDS, datetime.now(UTC), limit=1000
            )

        assert in_local in host_b and in_local not in host_a | shared
        assert in_slurm in shared and in_slurm not in host_a | host_b
        assert {str(run_id) for run_id, _ in ownerless} & {in_local, in_slurm} == {in_local}

    async def test_only_the_owner_host_follows_a_local_environments_run_and_ships_its_log(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        new_env: Any,
        env_root: Path,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
        alive_handle: Any,
    ) -> None:
        env = (await new_env()).json()
        run_id = (await launch(compute_env_id=env["id"])).json()["id"]
        launch_dir = env_root / "launch" / run_id
        handle = alive_handle(run_id, launch_dir, host=HOST_B)
        (launch_dir / ".nextflow.log").write_text("one\ntwo\nthr")  # Nextflow is writing
        await set_run(
            run_id, state="UNKNOWN", owner_host=HOST_B, backend_handle=handle,
            launch_dir=str(launch_dir), running_at=datetime.now(UTC),
        )  # fmt: skip
        url = f"/api/v1/runs/{run_id}"

        # host-a's worker, leader and its own host's reconciler: not its run to ask.
        await reconciler_of(session_factory, compute_settings, HOST_A).reconcile_once()
        left = (await compute_client.get(url, headers=team.headers("viewer"))).json()
        unshipped = await compute_client.get(f"{url}/log", headers=team.headers("viewer"))
        # host-b's: the environment's backend (built with host-b's identity) finds it alive.
        owner = reconciler_of(session_factory, compute_settings, HOST_B)
        await owner.reconcile_once(owned=True, shared=False)
        followed = (await compute_client.get(url, headers=team.headers("viewer"))).json()
        shipped = await compute_client.get(f"{url}/log", headers=team.headers("viewer"))

        assert left["state"] == "UNKNOWN" and unshipped.json()["lines"] == []
        assert followed["state"] == "RUNNING"
        # The last line of a live log waits for its newline (it is half written).
        assert shipped.json()["lines"] == ["one", "two"]


class TestLimitsAcrossHosts:
    async def test_an_environments_limit_counts_every_host_the_workers_own_this_host_only(
        self,
        hello: Any,
        launch: Any,
        new_env: Any,
        set_run: Any,
        session_factory: Any,
        compute_settings: Settings,
    ) -> None:
        env = (await new_env(max_active_runs=1)).json()
        busy_env = (await launch(compute_env_id=env["id"])).json()["id"]
        busy_own = (await launch()).json()["id"]
        for run_id in (busy_env, busy_own):
            await set_run(run_id, state="RUNNING", owner_host=HOST_B, backend="noop")
        waiting_env = (await launch(compute_env_id=env["id"])).json()["id"]
        waiting_own = (await launch()).json()["id"]
        await set_run(waiting_own, backend="noop")
        settings = on_host(compute_settings, HOST_A, MAX_ACTIVE_RUNS=1)
        dispatcher = Dispatcher(session_factory, NoopBackend(), settings, "host-a:test")

        claimed = await dispatcher.dispatch_once()

        async with session_factory() as session:
            runs = RunRepository(session)
            own = await runs.get(uuid.UUID(waiting_own))
            in_env = await runs.get(uuid.UUID(waiting_env))
        assert claimed == 1
        assert own is not None and (own.state, own.owner_host) == ("INITIALIZING", HOST_A)
        assert in_env is not None and in_env.state == "QUEUED"
