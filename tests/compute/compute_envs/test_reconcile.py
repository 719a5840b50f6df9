"""The reconciler asks each run's environment's backend: the status of its launcher, and the
launchers alive in the environment's launch folder (an unrecorded submission recovered)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.worker.reconciler import Reconciler


async def run_of(client: httpx.AsyncClient, team: Any, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await client.get(f"/api/v1/runs/{run_id}", headers=team.headers("viewer"))
    ).json()
    return body


class TestReconcileInAnEnvironment:
    async def test_a_launcher_in_the_environments_folder_is_followed_to_its_end(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        new_env: Any,
        env_root: Path,
        set_run: Any,
        reconciler: Reconciler,
        alive_handle: Any,
    ) -> None:
        env = (await new_env()).json()
        run = (await launch(compute_env_id=env["id"])).json()
        launch_dir = env_root / "launch" / run["id"]
        await set_run(
            run["id"], state="RUNNING", backend_handle=alive_handle(run["id"], launch_dir),
            running_at=datetime.now(UTC),
        )  # fmt: skip

        await reconciler.reconcile_once()
        running = await run_of(compute_client, team, run["id"])
        (launch_dir / "exit.json").write_text(json.dumps({"exit_code": 0}))
        await reconciler.reconcile_once()
        ended = await run_of(compute_client, team, run["id"])

        assert running["state"] == "RUNNING"
        assert (ended["state"], ended["exit_code"]) == ("COMPLETE", 0)

    async def test_an_unrecorded_submission_is_found_in_the_environments_folder(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        new_env: Any,
        env_root: Path,
        set_run: Any,
        reconciler: Reconciler,
        alive_handle: Any,
        session_factory: Any,
    ) -> None:
        env = (await new_env()).json()
        run = (await launch(compute_env_id=env["id"])).json()
        launch_dir = env_root / "launch" / run["id"]
        handle = alive_handle(run["id"], launch_dir)
        (launch_dir / "job.json").write_text(json.dumps(handle))
        long_ago = datetime.now(UTC) - timedelta(minutes=10)
        await set_run(run["id"], state="INITIALIZING", initializing_at=long_ago)

        await reconciler.reconcile_once()

        async with session_factory() as session:
            recorded = await RunRepository(session).get(uuid.UUID(run["id"]))
        assert recorded is not None
        assert recorded.backend_handle == handle
        assert recorded.launch_dir == str(launch_dir)

    async def test_an_environment_made_after_a_pass_is_known_to_the_next(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        new_env: Any,
        env_root: Path,
        set_run: Any,
        reconciler: Reconciler,
        alive_handle: Any,
    ) -> None:
        # The reconciler keeps the environments it read until one is made, edited or deleted.
        await reconciler.reconcile_once()
        env = (await new_env()).json()
        run = (await launch(compute_env_id=env["id"])).json()
        launch_dir = env_root / "launch" / run["id"]
        await set_run(
            run["id"], state="RUNNING", backend_handle=alive_handle(run["id"], launch_dir),
            running_at=datetime.now(UTC),
        )  # fmt: skip
        (launch_dir / "exit.json").write_text(json.dumps({"exit_code": 0}))

        await reconciler.reconcile_once()
        ended = await run_of(compute_client, team, run["id"])

        assert (ended["state"], ended["exit_code"]) == ("COMPLETE", 0)
