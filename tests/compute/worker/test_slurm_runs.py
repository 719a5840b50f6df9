"""Runs through the worker's dispatcher and reconciler on the real Slurm (support/slurm.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.backends.slurm import SlurmBackend, SlurmJobOptions
from nfhub_compute.config import Settings
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler
from support.slurm import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

NEXTFLOW = Path(__file__).resolve().parents[2] / "fakes" / "nextflow"
# More than the `tiny` partition's MaxTime=1: Slurm keeps the head job PENDING.
HELD = SlurmJobOptions(partition="tiny", time_limit="5")


class Worker:
    """One worker's dispatcher and reconciler over a SlurmBackend."""

    def __init__(self, session_factory: Any, settings: Settings, options: SlurmJobOptions):
        root = settings.WORK_ROOT
        self.backend = SlurmBackend(
            launch_root=root / "launch", work_root=root / "work", nextflow_bin=str(NEXTFLOW),
            env={}, options=options,
        )  # fmt: skip
        settings = settings.model_copy(update={"CANCEL_GRACE_SECONDS": 2})
        self.dispatcher = Dispatcher(session_factory, self.backend, settings, "test")
        self.reconciler = Reconciler(session_factory, self.backend, settings, self.dispatcher)

    async def until(
        self, client: httpx.AsyncClient, team: Any, run_id: str, done: Any, seconds: float = 40
    ) -> dict[str, Any]:
        """Reconcile until the run (as GET /runs/{id} shows it) is ``done``."""
        async with asyncio.timeout(seconds):
            while True:
                await self.reconciler.reconcile_once()
                response = await client.get(
                    f"/api/v1/runs/{run_id}", headers=team.headers("viewer")
                )
                run: dict[str, Any] = response.json()
                if done(run):
                    return run
                await asyncio.sleep(0.2)


@pytest.fixture
def worker(slurm: SlurmCluster, session_factory: Any, compute_settings: Settings) -> Any:
    def make(options: SlurmJobOptions | None = None) -> Worker:
        for folder in ("launch", "work"):
            (compute_settings.WORK_ROOT / folder).mkdir(parents=True, exist_ok=True)
        return Worker(session_factory, compute_settings, options or SlurmJobOptions())

    return make


async def launched(launch: Any, set_run: Any) -> str:
    run = (await launch()).json()
    await set_run(run["id"], backend="slurm")
    run_id: str = run["id"]
    return run_id


async def test_a_run_completes_on_slurm(
    compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any,
    worker: Any, slurm: SlurmCluster,
) -> None:  # fmt: skip
    run_id = await launched(launch, set_run)
    on_slurm = worker()

    assert await on_slurm.dispatcher.dispatch_once() == 1
    run = await on_slurm.until(compute_client, team, run_id, lambda r: r["state"] == "COMPLETE")
    # A second worker finds nothing left to submit, and the run on Slurm once.
    again = await worker().dispatcher.dispatch_once()
    # A task's files on demand: the worker reads them from the shared work dir.
    logs = f"/api/v1/runs/{run_id}/tasks/2/logs"
    asked = await compute_client.get(
        logs, params={"file": "stdout"}, headers=team.headers("viewer")
    )
    await on_slurm.reconciler.reconcile_once()
    stdout = await compute_client.get(
        logs, params={"file": "stdout"}, headers=team.headers("viewer")
    )

    assert run["exit_code"] == 0 and run["state_reason"] is None and run["error"] is None
    assert again == 0
    assert asked.status_code == 202
    assert (stdout.status_code, stdout.text) == (200, "multiqc: started\nmultiqc: done\n")
    named = slurm.run("squeue", "-h", "-t", "all", "-n", f"nfhub-{run_id}", "-o", "%i|%T")
    assert len(named.stdout.split()) == 1 and named.stdout.strip().endswith("|COMPLETED")


async def test_a_failing_pipeline_is_an_executor_error_with_its_exit_code(
    compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any,
    worker: Any,
) -> None:  # fmt: skip
    run = (await launch(params={"fail_process": "FASTQC"})).json()
    await set_run(run["id"], backend="slurm")
    on_slurm = worker()

    await on_slurm.dispatcher.dispatch_once()
    ended = await on_slurm.until(compute_client, team, run["id"], lambda r: r["finished_at"])

    assert (ended["state"], ended["exit_code"]) == ("EXECUTOR_ERROR", 1)


async def test_a_run_held_in_slurms_queue_shows_why_and_can_be_canceled(
    compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any,
    worker: Any,
) -> None:  # fmt: skip
    run_id = await launched(launch, set_run)
    on_slurm = worker(HELD)
    await on_slurm.dispatcher.dispatch_once()

    waiting = await on_slurm.until(
        compute_client, team, run_id, lambda r: "PartitionTimeLimit" in (r["state_reason"] or "")
    )
    cancel = await compute_client.post(
        f"/api/v1/runs/{run_id}/cancel", headers=team.headers("editor")
    )
    canceled = await on_slurm.until(compute_client, team, run_id, lambda r: r["finished_at"])

    assert waiting["state"] == "INITIALIZING"
    assert waiting["state_reason"].startswith("Waiting in Slurm's queue (job ")
    assert cancel.status_code == 202
    assert canceled["state"] == "CANCELED"
    assert await on_slurm.backend.list_active() == []


async def test_a_failed_tasks_stderr_is_shipped_from_slurms_shared_work_dir(
    compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any, set_run: Any,
    worker: Any, compute_settings: Settings,
) -> None:  # fmt: skip
    params = {"fail_process": "FASTQC", "exit_code": 137, "stderr_lines": 3}
    run = (await launch(params=params)).json()
    await set_run(run["id"], backend="slurm")
    on_slurm = worker()

    await on_slurm.dispatcher.dispatch_once()
    ended = await on_slurm.until(compute_client, team, run["id"], lambda r: r["finished_at"])
    stderr = await compute_client.get(
        f"/api/v1/runs/{run['id']}/tasks/1/logs",
        params={"file": "stderr"},
        headers=team.headers("viewer"),
    )
    script = await compute_client.get(
        f"/api/v1/runs/{run['id']}/tasks/1/logs",
        params={"file": "script"},
        headers=team.headers("viewer"),
    )

    killed = ".command.sh: line 2:  4242 Killed                  fastqc S1"
    assert ended["state"] == "EXECUTOR_ERROR"
    assert (ended["error"]["exit_code"], ended["error"]["process"]) == (137, "HELLO:FASTQC")
    assert "often out of memory" in ended["error"]["exit_meaning"]
    assert ended["error"]["stderr_tail"] == [
        "fastqc S1: reading input",
        *(f"fastqc S1: stderr line {n} of 3" for n in (1, 2, 3)),
        killed,
    ]
    assert stderr.status_code == 200 and stderr.text.endswith(killed + "\n")
    assert script.status_code == 200 and script.text.strip() == "fastqc S1"
