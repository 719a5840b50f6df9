"""Runs in compute environments: which one a launch gets, refusals, limits, and the launch."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeEnv
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.worker.dispatcher import Dispatcher

URL = "/api/v1/compute-envs"


async def set_env(session_factory: Any, env_id: str, **values: Any) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(
            update(ComputeEnv).where(ComputeEnv.id == uuid.UUID(env_id)).values(**values)
        )


class TestLaunchInAnEnvironment:
    async def test_a_named_environment_is_recorded_and_shown(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()

        launched = await launch(compute_env_id=env["id"])
        shown = await compute_client.get(
            f"/api/v1/runs/{launched.json()['id']}", headers=team.headers("viewer")
        )

        assert launched.status_code == 201, launched.text
        assert launched.json()["compute_env_id"] == env["id"]
        assert shown.json()["compute_env_id"] == env["id"]
        assert shown.json()["backend"] == "local"

    async def test_without_one_the_orgs_primary_is_used(
        self, hello: Any, launch: Any, new_env: Any
    ) -> None:
        await new_env(name="other")
        primary = (await new_env(name="main", is_primary=True)).json()

        launched = await launch()

        assert launched.json()["compute_env_id"] == primary["id"]

    async def test_an_org_without_environments_keeps_the_workers_backend(
        self, hello: Any, launch: Any
    ) -> None:
        launched = await launch()

        assert launched.status_code == 201
        assert (launched.json()["compute_env_id"], launched.json()["backend"]) == (None, "local")

    @pytest.mark.parametrize(
        ("values", "said"),
        [
            ({"status": "DISABLED", "status_reason": "Disabled by an org admin."}, "is DISABLED"),
            ({"status": "INVALID", "status_reason": "The work folder /x does not exist"},
             "is INVALID: The work folder /x does not exist"),
        ],
    )  # fmt: skip
    @pytest.mark.parametrize("named", [True, False])
    async def test_a_disabled_or_invalid_environment_refuses_runs_with_409(
        self,
        hello: Any,
        launch: Any,
        new_env: Any,
        session_factory: Any,
        values: dict[str, Any],
        said: str,
        named: bool,
    ) -> None:
        env = (await new_env(is_primary=True)).json()
        await set_env(session_factory, env["id"], **values)

        response = await launch(compute_env_id=env["id"]) if named else await launch()

        assert response.status_code == 409, response.text
        assert said in response.json()["detail"]

    async def test_an_unknown_or_other_orgs_environment_is_422(
        self, hello: Any, launch: Any, outsider: Any
    ) -> None:
        theirs = await outsider.create_env()

        for env_id in (theirs.json()["id"], str(uuid.uuid4())):
            response = await launch(compute_env_id=env_id)
            assert response.status_code == 422, response.text
            assert [e["field"] for e in response.json()["errors"]] == ["compute_env_id"]

    async def test_a_relaunch_goes_where_the_run_went_and_is_refused_there_when_disabled(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        new_env: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        env = (await new_env()).json()
        run = (await launch(compute_env_id=env["id"])).json()
        url = f"/api/v1/runs/{run['id']}/relaunch"

        again = await compute_client.post(url, json={}, headers=team.headers("editor"))
        await set_env(session_factory, env["id"], status="DISABLED")
        refused = await compute_client.post(url, json={}, headers=team.headers("editor"))

        assert again.status_code == 201 and again.json()["compute_env_id"] == env["id"]
        assert refused.status_code == 409

    async def test_an_environment_with_queued_runs_cannot_be_deleted(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()
        await launch(compute_env_id=env["id"])

        response = await compute_client.delete(f"{URL}/{env['id']}", headers=team.headers("admin"))

        assert response.status_code == 409
        assert "1 queued or live run(s)" in response.json()["detail"]


class TestMaxActiveRuns:
    async def test_each_environment_gets_at_most_its_max_active_runs(
        self, hello: Any, launch: Any, new_env: Any, set_run: Any, session_factory: Any
    ) -> None:
        one = (await new_env(name="one", max_active_runs=1)).json()
        two = (await new_env(name="two", max_active_runs=2)).json()
        busy = (await launch(compute_env_id=one["id"])).json()
        await set_run(busy["id"], state="RUNNING")
        waiting = [(await launch(compute_env_id=one["id"])).json()["id"] for _ in range(2)]
        in_two = [(await launch(compute_env_id=two["id"])).json()["id"] for _ in range(3)]
        without = (await launch()).json()["id"]

        async with session_factory() as session, session.begin():
            claimed = await RunRepository(session).claim_queued(
                "test", 20, datetime.now(UTC), free_without_env=5
            )

        assert {str(run_id) for run_id in claimed} == {*in_two[:2], without}
        assert not set(waiting) & {str(run_id) for run_id in claimed}

    async def test_runs_without_an_environment_keep_the_global_limit(
        self, hello: Any, launch: Any, session_factory: Any
    ) -> None:
        runs = [(await launch()).json()["id"] for _ in range(3)]

        async with session_factory() as session, session.begin():
            claimed = await RunRepository(session).claim_queued(
                "test", 20, datetime.now(UTC), free_without_env=2
            )

        assert [str(run_id) for run_id in claimed] == runs[:2]


class TestDispatchToTheEnvironment:
    async def test_the_run_uses_the_environments_folders_config_variables_and_scripts(
        self,
        hello: Any,
        launch: Any,
        new_env: Any,
        env_root: Path,
        session_factory: Any,
        compute_settings: Settings,
        tmp_path: Path,
    ) -> None:
        env = (
            await new_env(
                nextflow_config="process.cpus = 3\n",
                env_vars={"LAB_MARK": "from-the-env"},
                pre_run_script='echo "pre $LAB_MARK" > pre.txt\n',
                post_run_script='echo "post $NFHUB_EXIT_CODE" > post.txt\n',
                backend_options={"task_executor": {"executor": "slurm", "queue": "short"}},
            )
        ).json()
        run = (await launch(compute_env_id=env["id"])).json()
        default = LocalBackend(compute_settings.WORK_ROOT)
        dispatcher = Dispatcher(session_factory, default, compute_settings, "test")

        assert await dispatcher.dispatch_once() == 1
        async with session_factory() as session:
            recorded = await RunRepository(session).get(uuid.UUID(run["id"]))
        assert recorded is not None and recorded.backend_handle is not None
        launch_dir = Path(recorded.backend_handle["launch_dir"])
        async with asyncio.timeout(30):
            while True:
                if (launch_dir / "exit.json").exists():
                    break
                await asyncio.sleep(0.05)

        assert launch_dir == env_root / "launch" / run["id"]
        assert recorded.work_dir == str(env_root / "work" / run["id"])
        config = (launch_dir / "nfhub.config").read_text()
        assert config.index("process.executor = 'slurm'") < config.index("weblog {")
        assert "process.queue = 'short'" in config and "process.cpus = 3" in config
        assert (launch_dir / "pre.txt").read_text() == "pre from-the-env\n"
        assert json.loads((launch_dir / "exit.json").read_text())["exit_code"] == 0
        assert (launch_dir / "post.txt").read_text() == "post 0\n"
        assert not (compute_settings.WORK_ROOT / "runs").exists()
        await dispatcher.backends.close()
