"""/compute-envs: CRUD, role rules, other orgs, bad input, primary switching, validate."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from nfhub_compute.models import ComputeEnv

PROBLEM_JSON = "application/problem+json"
URL = "/api/v1/compute-envs"


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


class TestCreateComputeEnv:
    async def test_a_local_environment_is_created_available(
        self, new_env: Any, env_root: Path, team: Any
    ) -> None:
        response = await new_env(
            nextflow_config="process {\n    cpus = 2\n}\n",
            env_vars={"NXF_OPTS": "-Xms1g"},
            pre_run_script="module load java\n",
            max_active_runs=3,
        )

        assert response.status_code == 201, response.text
        env = response.json()
        assert response.headers["location"].endswith(f"{URL}/{env['id']}")
        assert (env["name"], env["backend"], env["status"]) == ("local-1", "local", "AVAILABLE")
        assert env["work_dir"] == str(env_root / "work")
        assert env["launch_dir"] == str(env_root / "launch")
        assert env["env_vars"] == {"NXF_OPTS": "-Xms1g"} and env["max_active_runs"] == 3
        assert env["is_primary"] is False and env["validated_at"] is None
        assert env["created_by"] == str(team.admin.id)

    async def test_slurm_options_are_kept_as_given(self, new_env: Any) -> None:
        options = {
            "partition": "long", "account": "lab-1", "qos": "normal", "time_limit": "2-00:00:00",
            "memory": "4G", "cpus": 2, "extra_args": ["--constraint=avx2", "--exclusive"],
            "task_executor": {"executor": "slurm", "queue": "short"},
        }  # fmt: skip

        response = await new_env(backend="slurm", backend_options=options)

        assert response.status_code == 201, response.text
        assert response.json()["backend_options"] == options

    async def test_a_name_is_unique_in_the_org(self, new_env: Any) -> None:
        first = await new_env()
        again = await new_env()

        assert first.status_code == 201
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM_JSON
        assert "already has a compute environment named 'local-1'" in again.json()["detail"]

    async def test_the_same_name_in_another_org_is_fine(self, new_env: Any, outsider: Any) -> None:
        ours = await new_env()
        theirs = await outsider.create_env("local-1")

        assert (ours.status_code, theirs.status_code) == (201, 201)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"backend": "kubernetes"}, "backend"),
            ({"backend": "pbs"}, "backend"),
            ({"work_dir": "relative/work"}, "work_dir"),
            ({"launch_dir": "launch"}, "launch_dir"),
            ({"work_dir": "/data/../etc"}, "work_dir"),
            ({"name": "has space"}, "name"),
            ({"max_active_runs": 0}, "max_active_runs"),
            ({"env_vars": {"1BAD": "x"}}, "env_vars"),
            ({"env_vars": {"HAS-DASH": "x"}}, "env_vars"),
            ({"env_vars": {"NXF_ANSI_LOG": "true"}}, "env_vars"),
            ({"nextflow_config": "x" * (64 * 1024 + 1)}, "nextflow_config"),
            ({"nextflow_config": "process {\n  cpus = 2\n"}, "nextflow_config"),
            ({"nextflow_config": "weblog {\n  url = 'http://elsewhere'\n}"}, "nextflow_config"),
            ({"nextflow_config": "weblog.enabled = false"}, "nextflow_config"),
            ({"nextflow_config": "params.x = '-with-weblog http://x'"}, "nextflow_config"),
            ({"backend_options": {"partition": "long"}}, "backend_options.partition"),
            ({"unexpected": 1}, "unexpected"),
        ],
    )
    async def test_bad_input_is_422_naming_the_field(
        self, new_env: Any, body: dict[str, Any], field: str
    ) -> None:
        response = await new_env(**body)

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert fields(response) == [field]

    async def test_a_1_mb_config_is_413(self, new_env: Any) -> None:
        response = await new_env(nextflow_config="// big\n" * (1024 * 1024 // 7))

        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize(
        ("options", "field", "message"),
        [
            ({"extra_args": ["--uid=0"]}, "backend_options.extra_args", "'--uid' is not"),
            ({"extra_args": ["--wrap=rm -rf /"]}, "backend_options.extra_args", "'--wrap'"),
            ({"extra_args": ["--gres=gpu;id"]}, "backend_options.extra_args", "characters"),
            ({"time_limit": "soon"}, "backend_options.time_limit", "pattern"),
            ({"memory": "lots"}, "backend_options.memory", "pattern"),
            ({"cpus": 0}, "backend_options.cpus", "greater than"),
            ({"nodes": 3}, "backend_options.nodes", "Extra inputs"),
            ({"task_executor": {"executor": "pbs"}}, "backend_options.task_executor.executor",
             "'local' or 'slurm'"),
        ],
    )  # fmt: skip
    async def test_slurm_options_off_the_allow_list_are_refused(
        self, new_env: Any, options: dict[str, Any], field: str, message: str
    ) -> None:
        response = await new_env(backend="slurm", backend_options=options)

        assert response.status_code == 422, response.text
        assert fields(response) == [field]
        assert message in response.json()["errors"][0]["message"]


class TestRoles:
    @pytest.mark.parametrize(
        ("role", "method", "path", "expected"),
        [
            ("viewer", "GET", "", 200),
            ("viewer", "GET", "/{id}", 200),
            ("editor", "GET", "/{id}", 200),
            ("viewer", "POST", "", 403),
            ("editor", "POST", "", 403),
            ("editor", "PATCH", "/{id}", 403),
            ("editor", "DELETE", "/{id}", 403),
            ("editor", "POST", "/{id}/primary", 403),
            ("editor", "POST", "/{id}/validate", 403),
            ("admin", "PATCH", "/{id}", 200),
            ("admin", "POST", "/{id}/primary", 200),
            ("admin", "POST", "/{id}/validate", 200),
            ("admin", "DELETE", "/{id}", 204),
        ],
    )
    async def test_members_read_and_admins_manage(
        self,
        compute_client: httpx.AsyncClient,
        new_env: Any,
        team: Any,
        env_root: Path,
        role: str,
        method: str,
        path: str,
        expected: int,
    ) -> None:
        env = (await new_env()).json()
        body: dict[str, Any] | None = None
        if method == "PATCH":
            body = {"description": "changed"}
        elif method == "POST" and path == "":
            body = {"name": "other", "backend": "local", "work_dir": str(env_root),
                    "launch_dir": str(env_root)}  # fmt: skip

        response = await compute_client.request(
            method, URL + path.format(id=env["id"]), json=body, headers=team.headers(role)
        )

        assert response.status_code == expected, response.text

    async def test_a_token_without_the_scope_is_refused(
        self, compute_client: httpx.AsyncClient, factory: Any, team: Any
    ) -> None:
        _, token = await factory.personal_access_token(team.admin, scopes=["runs:read"])

        response = await compute_client.get(
            URL, headers={"Authorization": f"Bearer {token}", "X-Project-ID": str(team.project_id)}
        )

        assert response.status_code == 403
        assert "compute-envs:read" in response.json()["detail"]


class TestOtherOrgs:
    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/{id}"),
            ("PATCH", "/{id}"),
            ("DELETE", "/{id}"),
            ("POST", "/{id}/primary"),
            ("POST", "/{id}/validate"),
        ],
    )
    async def test_another_orgs_environment_is_404(
        self,
        compute_client: httpx.AsyncClient,
        new_env: Any,
        outsider: Any,
        method: str,
        path: str,
    ) -> None:
        env = (await new_env()).json()
        body = {"description": "mine now"} if method == "PATCH" else None

        response = await compute_client.request(
            method, URL + path.format(id=env["id"]), json=body, headers=outsider.headers
        )

        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_lists_show_only_the_orgs_own(
        self, compute_client: httpx.AsyncClient, new_env: Any, outsider: Any, team: Any
    ) -> None:
        await new_env()

        theirs = await compute_client.get(URL, headers=outsider.headers)
        ours = await compute_client.get(URL, headers=team.headers("viewer"))

        assert theirs.json()["count"] == 0
        assert [env["name"] for env in ours.json()["items"]] == ["local-1"]

    async def test_an_unknown_id_is_404(self, compute_client: httpx.AsyncClient, team: Any) -> None:
        response = await compute_client.get(f"{URL}/{uuid.uuid4()}", headers=team.headers("admin"))

        assert response.status_code == 404


class TestPrimary:
    async def test_one_primary_per_org_and_it_lists_first(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        first = (await new_env(name="b-first", is_primary=True)).json()
        second = (await new_env(name="a-second")).json()

        switched = await compute_client.post(
            f"{URL}/{second['id']}/primary", headers=team.headers("admin")
        )
        listed = (await compute_client.get(URL, headers=team.headers("viewer"))).json()

        assert first["is_primary"] is True
        assert switched.status_code == 200 and switched.json()["is_primary"] is True
        assert [(env["name"], env["is_primary"]) for env in listed["items"]] == [
            ("a-second", True), ("b-first", False),
        ]  # fmt: skip

    async def test_a_disabled_environment_cannot_be_primary(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()
        await compute_client.patch(
            f"{URL}/{env['id']}", json={"status": "DISABLED"}, headers=team.headers("admin")
        )

        response = await compute_client.post(
            f"{URL}/{env['id']}/primary", headers=team.headers("admin")
        )

        assert response.status_code == 409
        assert "only an AVAILABLE environment" in response.json()["detail"]


class TestUpdateComputeEnv:
    async def test_fields_change_and_validation_is_forgotten(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any, env_root: Path
    ) -> None:
        env = (await new_env()).json()
        validated = await compute_client.post(
            f"{URL}/{env['id']}/validate", headers=team.headers("admin")
        )
        (env_root / "other").mkdir()

        response = await compute_client.patch(
            f"{URL}/{env['id']}",
            json={"work_dir": str(env_root / "other"), "nextflow_config": None},
            headers=team.headers("admin"),
        )

        assert validated.json()["validated_at"] is not None
        assert response.status_code == 200, response.text
        assert response.json()["work_dir"] == str(env_root / "other")
        assert response.json()["validated_at"] is None

    async def test_disable_then_enable(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()
        url, headers = f"{URL}/{env['id']}", team.headers("admin")

        disabled = await compute_client.patch(url, json={"status": "DISABLED"}, headers=headers)
        enabled = await compute_client.patch(url, json={"status": "AVAILABLE"}, headers=headers)

        assert (disabled.json()["status"], disabled.json()["status_reason"]) == (
            "DISABLED", "Disabled by an org admin.",
        )  # fmt: skip
        assert (enabled.json()["status"], enabled.json()["status_reason"]) == ("AVAILABLE", None)

    @pytest.mark.parametrize(
        ("body", "status", "field"),
        [
            ({"name": None}, 422, "name"),
            ({"work_dir": "rel"}, 422, "work_dir"),
            ({"status": "INVALID"}, 422, "status"),
            ({"backend": "slurm"}, 422, "backend"),
            ({"backend_options": {"extra_args": ["--x=1"]}}, 422, "backend_options.extra_args"),
        ],
    )
    async def test_bad_changes_are_refused(
        self,
        compute_client: httpx.AsyncClient,
        new_env: Any,
        team: Any,
        body: dict[str, Any],
        status: int,
        field: str,
    ) -> None:
        env = (await new_env()).json()

        response = await compute_client.patch(
            f"{URL}/{env['id']}", json=body, headers=team.headers("admin")
        )

        assert response.status_code == status, response.text
        assert fields(response) == [field]

    async def test_an_invalid_environment_is_enabled_by_validating_it(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any, env_root: Path
    ) -> None:
        env = (await new_env(work_dir=str(env_root / "missing"))).json()
        url, headers = f"{URL}/{env['id']}", team.headers("admin")
        invalid = await compute_client.post(f"{url}/validate", headers=headers)

        forced = await compute_client.patch(url, json={"status": "AVAILABLE"}, headers=headers)
        (env_root / "missing").mkdir()
        fixed = await compute_client.post(f"{url}/validate", headers=headers)

        assert invalid.status_code == 422 and "INVALID" in invalid.json()["detail"]
        assert forced.status_code == 409 and "validate" in forced.json()["detail"]
        assert (fixed.json()["status"], fixed.json()["status_reason"]) == ("AVAILABLE", None)

    async def test_renaming_to_a_taken_name_is_409(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        await new_env(name="taken")
        env = (await new_env(name="mine")).json()

        response = await compute_client.patch(
            f"{URL}/{env['id']}", json={"name": "taken"}, headers=team.headers("admin")
        )

        assert response.status_code == 409


class TestValidate:
    async def test_a_good_local_environment_is_available(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()

        response = await compute_client.post(
            f"{URL}/{env['id']}/validate", headers=team.headers("admin")
        )

        assert response.status_code == 200, response.text
        checked = response.json()
        assert (checked["status"], checked["status_reason"]) == ("AVAILABLE", None)
        assert checked["validated_at"] is not None

    @pytest.mark.parametrize(
        ("changes", "reason"),
        [
            ({"work_dir": "{root}/nowhere"}, "work folder {root}/nowhere does not exist"),
            ({"launch_dir": "{root}/nowhere"}, "launch folder {root}/nowhere does not exist"),
            # Exists, and no one may create files in it (root neither).
            ({"launch_dir": "/proc"}, "launch folder /proc is not writable"),
            ({"env_vars": {"PATH": "/nonexistent"}}, "'nextflow' is not on the worker's PATH"),
        ],
    )
    async def test_what_stops_a_run_makes_it_invalid_with_the_reason(
        self,
        compute_client: httpx.AsyncClient,
        new_env: Any,
        team: Any,
        env_root: Path,
        changes: dict[str, Any],
        reason: str,
    ) -> None:
        body = {
            name: value.format(root=env_root) if isinstance(value, str) else value
            for name, value in changes.items()
        }
        env = (await new_env(**body)).json()

        response = await compute_client.post(
            f"{URL}/{env['id']}/validate", headers=team.headers("admin")
        )
        recorded = await compute_client.get(f"{URL}/{env['id']}", headers=team.headers("admin"))

        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert reason.format(root=env_root) in response.json()["detail"]
        # The failure is kept: the environment refuses runs until it passes validate.
        assert recorded.json()["status"] == "INVALID"
        assert reason.format(root=env_root) in recorded.json()["status_reason"]

    async def test_a_config_stored_before_the_rules_is_found_bad(
        self,
        compute_client: httpx.AsyncClient,
        new_env: Any,
        team: Any,
        session_factory: Any,
    ) -> None:
        env = (await new_env()).json()
        async with session_factory() as session, session.begin():
            await session.execute(
                update(ComputeEnv)
                .where(ComputeEnv.id == uuid.UUID(env["id"]))
                .values(nextflow_config="process {\n  executor = 'slurm'\n")
            )

        response = await compute_client.post(
            f"{URL}/{env['id']}/validate", headers=team.headers("admin")
        )

        assert response.status_code == 422, response.text
        assert "nextflow_config: line 1: '{' is never closed" in response.json()["detail"]

    async def test_a_disabled_environment_is_not_validated(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()
        url, headers = f"{URL}/{env['id']}", team.headers("admin")
        await compute_client.patch(url, json={"status": "DISABLED"}, headers=headers)

        response = await compute_client.post(f"{url}/validate", headers=headers)

        assert response.status_code == 409 and "enable it" in response.json()["detail"]


class TestDeleteComputeEnv:
    async def test_deleted_then_gone(
        self, compute_client: httpx.AsyncClient, new_env: Any, team: Any
    ) -> None:
        env = (await new_env()).json()
        url, headers = f"{URL}/{env['id']}", team.headers("admin")

        deleted = await compute_client.delete(url, headers=headers)
        after = await compute_client.get(url, headers=headers)

        assert deleted.status_code == 204
        assert after.status_code == 404
