"""GA4GH WES 1.1 in-process: service-info, launch, the RunLog, paging, tasks, cancel, errors.

Runs and tasks are put into the database directly where only their rows matter (paging over
1,000 runs); launches go through POST /runs, the same path as /api/v1/runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.models import Run, Task
from nfhub_compute.tasks.repository import TaskRepository
from nfhub_compute.wes.schemas import RunListResponse
from nfhub_shared.db.engine import create_read_pool
from support.inprocess import HELLO_PIPELINE

WES = "/ga4gh/wes/v1"
Post = Callable[..., Awaitable[httpx.Response]]


def wes_error(response: httpx.Response, status: int) -> str:
    """The spec's ErrorResponse, exactly: its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status
    assert isinstance(body["msg"], str) and body["msg"]
    return str(body["msg"])


@pytest.fixture
def post_run(compute_client: httpx.AsyncClient, team: Any) -> Post:
    """POST /runs as multipart/form-data (the spec's only body), the hello pipeline by slug."""

    async def post(
        role: str = "editor",
        headers: dict[str, str] | None = None,
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        form: dict[str, Any] = {
            "workflow_url": "hello",
            "workflow_type": "NFL",
            "workflow_type_version": "DSL2",
            "workflow_params": {"input": "sheets/hello.csv"},
            **fields,
        }
        # multipart/form-data as the spec has it: plain fields are parts without a file name.
        parts: list[tuple[str, Any]] = [
            (name, (None, json.dumps(value) if isinstance(value, dict) else value))
            for name, value in form.items()
            if value is not None
        ]
        return await compute_client.post(
            f"{WES}/runs",
            files=parts + list(files or []),
            headers=team.headers(role) if headers is None else headers,
        )

    return post


def runs_rows(
    team: Any, count: int, start: datetime, *, tags: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for number in range(count):
        run_id = uuid.uuid4()
        rows.append(
            {
                "id": run_id,
                "project_id": team.project_id,
                "org_id": team.org_id,
                "pipeline_slug": "hello",
                "pipeline_version": "1.0.0",
                "name": f"run {number}",
                "nextflow_name": f"nfhub-{run_id.hex}",
                "state": "COMPLETE",
                "params": {},
                "profiles": [],
                "labels": [],
                "secrets": [],
                "storage_uri": "file:///tmp/",
                "outdir_uri": f"file:///tmp/runs/{run_id}/",
                "backend": "local",
                "workflow": {},
                "created_by": "test",
                # Every tenth shares its creation time with the one before: the keyset's id
                # breaks the tie.
                "created_at": start + timedelta(milliseconds=number - number % 10 // 9),
                "updated_at": start,
                "wes_request": {"tags": tags} if tags else None,
            }
        )
    return rows


async def add_runs(
    session_factory: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]
) -> None:
    async with session_factory() as session, session.begin():
        await session.execute(insert(Run), rows)


class TestLaunch:
    async def test_a_wes_launch_is_the_same_run_as_one_from_the_api(
        self, compute_client: httpx.AsyncClient, hello: Any, post_run: Post, team: Any
    ) -> None:
        response = await post_run(
            workflow_params={"input": "sheets/hello.csv", "greeting": "hi"},
            tags={"batch": "7"},
            workflow_engine="nextflow",
            workflow_engine_parameters={"name": "From WES"},
        )

        assert response.status_code == 200, response.text
        run_id = response.json()["run_id"]
        assert set(response.json()) == {"run_id"}
        api = await compute_client.get(f"/api/v1/runs/{run_id}", headers=team.headers("viewer"))
        assert api.status_code == 200
        run = api.json()
        assert run["state"] == "QUEUED" and run["name"] == "From WES"
        assert run["params"] == {"greeting": "hi"} and run["input"]["path"] == "sheets/hello.csv"
        assert run["pipeline"]["slug"] == "hello" and run["pipeline"]["version"] == "1.0.0"

        log = (
            await compute_client.get(f"{WES}/runs/{run_id}", headers=team.headers("viewer"))
        ).json()
        assert log["run_id"] == run_id and log["state"] == "QUEUED"
        assert log["request"] == {
            "workflow_params": {"input": "sheets/hello.csv", "greeting": "hi"},
            "workflow_type": "NFL",
            "workflow_type_version": "DSL2",
            "tags": {"batch": "7"},
            "workflow_engine": "nextflow",
            "workflow_engine_parameters": {"name": "From WES"},
            "workflow_url": "hello",
        }
        assert log["task_logs_url"].endswith(f"{WES}/runs/{run_id}/tasks")
        assert log["run_log"]["name"] == "From WES"
        assert log["outputs"]["project_path"] == f"runs/{run_id}/"
        status = await compute_client.get(
            f"{WES}/runs/{run_id}/status", headers=team.headers("viewer")
        )
        assert status.json() == {"run_id": run_id, "state": "QUEUED"}

    async def test_a_run_from_the_api_reads_as_a_wes_run(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any, team: Any
    ) -> None:
        run = (await launch(params={"greeting": "yo"})).json()

        log = await compute_client.get(f"{WES}/runs/{run['id']}", headers=team.headers("viewer"))

        assert log.status_code == 200, log.text
        assert log.json()["request"]["workflow_url"] == "hello/1.0.0"
        assert log.json()["request"]["workflow_params"] == {
            "greeting": "yo", "input": "sheets/hello.csv"
        }  # fmt: skip
        listed = await compute_client.get(f"{WES}/runs", headers=team.headers("viewer"))
        assert [r["run_id"] for r in listed.json()["runs"]] == [run["id"]]
        assert listed.json()["next_page_token"] == ""

    async def test_a_version_by_slug_and_version_or_by_its_source_url(
        self, compute_client: httpx.AsyncClient, hello: Any, post_run: Post, team: Any
    ) -> None:
        git = "https://git.example.org/lab/hello"
        for version, source in (
            ("2.0.0", {"path": str(HELLO_PIPELINE)}),
            ("3.0.0", {"url": git + ".git", "revision": "v3"}),
        ):
            response = await compute_client.post(
                "/api/v1/pipelines/slug/hello/versions",
                json={"version": version, "source": source},
                headers=team.headers("admin"),
            )
            assert response.status_code == 201, response.text

        by_version = await post_run(workflow_url="hello/2.0.0")
        by_source = await post_run(workflow_url=git, workflow_engine_parameters={"revision": "v3"})
        wrong_revision = await post_run(
            workflow_url=git, workflow_engine_parameters={"revision": "v9"}
        )

        for response, version in ((by_version, "2.0.0"), (by_source, "3.0.0")):
            assert response.status_code == 200, response.text
            run = await compute_client.get(
                f"/api/v1/runs/{response.json()['run_id']}", headers=team.headers("viewer")
            )
            assert run.json()["pipeline"]["version"] == version
        assert "No registered pipeline version comes from" in wes_error(wrong_revision, 400)

    async def test_the_project_may_be_named_in_tags_instead_of_the_header(
        self, compute_client: httpx.AsyncClient, hello: Any, post_run: Post, team: Any
    ) -> None:
        no_project = {"Authorization": team.headers("editor")["Authorization"]}

        response = await post_run(headers=no_project, tags={"project": str(team.project_id)})
        missing = await post_run(headers=no_project)

        assert response.status_code == 200, response.text
        run_id = response.json()["run_id"]
        # A run's own routes find the project from the run, for header-less clients.
        status = await compute_client.get(f"{WES}/runs/{run_id}/status", headers=no_project)
        assert status.json()["state"] == "QUEUED"
        assert "X-Project-ID" in wes_error(missing, 400)

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"workflow_type": "CWL"}, "workflow_type 'CWL' is not served here"),
            ({"workflow_type_version": "DSL1"}, "workflow_type_version 'DSL1'"),
            ({"workflow_engine": "cromwell"}, "workflow_engine 'cromwell'"),
            ({"workflow_engine_version": "25.10.7"}, "needs workflow_engine"),
            (
                {"workflow_engine": "nextflow", "workflow_engine_version": "20.01.0"},
                "workflow_engine_version '20.01.0'",
            ),
            ({"workflow_url": None}, "workflow_url is required"),
            ({"workflow_url": "https://elsewhere.org/x"}, "No registered pipeline version"),
            ({"workflow_url": "Not A Slug!"}, "names no registered pipeline"),
            ({"workflow_url": "nosuch"}, "nosuch"),
            ({"workflow_params": "[1, 2]"}, "workflow_params must be a JSON object"),
            ({"workflow_params": "{nope"}, "workflow_params is not JSON"),
            ({"workflow_params": {"input": 5}}, "workflow_params.input must be a path"),
            (
                {"workflow_params": {"input": "sheets/hello.csv", "outdir": "/x"}},
                "outdir is set by nfhub",
            ),
            (
                {"workflow_params": {"input": "sheets/hello.csv", "task_seconds": "slow"}},
                "params.task_seconds",
            ),
            ({"workflow_params": {"input": "sheets/none.csv"}}, "not in this project's files"),
            ({"tags": {"a": {"b": 1}}}, "tags.a must be a string"),
            (
                {"workflow_engine_parameters": {"resume": "true"}},
                "Unknown workflow_engine_parameters resume",
            ),
            ({"workflow_engine_parameters": {"profile": "bad profile!"}}, "profiles"),
            (
                {"workflow_engine_parameters": {"compute_env_id": "not-a-uuid"}},
                "compute_env_id",
            ),
            ({"tags": {"project": "nope"}}, None),  # the header wins; the tag is only a tag
        ],
    )
    async def test_bad_requests_are_400s_that_say_why(
        self, hello: Any, post_run: Post, fields: dict[str, Any], expected: str | None
    ) -> None:
        response = await post_run(**fields)

        if expected is None:
            assert response.status_code == 200, response.text
        else:
            assert expected in wes_error(response, 400)

    async def test_attachments_are_refused_unless_allowed(self, hello: Any, post_run: Post) -> None:
        response = await post_run(
            files=[("workflow_attachment", ("main.nf", b"workflow {}", "text/plain"))]
        )

        assert "workflow_attachment is not accepted here" in wes_error(response, 400)

    async def test_a_viewer_cannot_launch_and_no_token_is_a_401(
        self, hello: Any, post_run: Post, team: Any
    ) -> None:
        viewer = await post_run(role="viewer")
        anonymous = await post_run(headers={"X-Project-ID": str(team.project_id)})
        forged = await post_run(
            headers={"Authorization": "Bearer nfh_pat_forged", "X-Project-ID": str(team.project_id)}
        )

        assert "editor role" in wes_error(viewer, 403)
        assert "Authorization: Bearer" in wes_error(anonymous, 401)
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        wes_error(forged, 401)

    async def test_another_projects_id_in_tags_is_refused(
        self, hello: Any, post_run: Post, team: Any, factory: Any
    ) -> None:
        stranger = await factory.project(team.org_id, members={})
        no_project = {"Authorization": team.headers("editor")["Authorization"]}

        nowhere = uuid.uuid4()

        response = await post_run(headers=no_project, tags={"project": str(stranger)})
        unknown = await post_run(headers=no_project, tags={"project": str(nowhere)})

        # The same answer for both, as on every project-scoped route of compute; a 403, the
        # status the WES spec lists for a launch (it lists no 404 there).
        message = "Project {} does not exist or you cannot see it."
        assert wes_error(response, 403) == message.format(stranger)
        assert wes_error(unknown, 403) == message.format(nowhere)


class TestListing:
    async def test_pages_cover_1000_runs_once_each_while_runs_arrive(
        self, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        start = datetime.now(UTC) - timedelta(hours=1)
        existing = runs_rows(team, 1000, start, tags={"batch": "old"})
        await add_runs(session_factory, existing)
        headers = team.headers("viewer")
        seen: list[str] = []
        token = ""
        pages = 0
        while True:
            params: dict[str, Any] = {"page_size": 37}
            if token:
                params["page_token"] = token
            page = await compute_client.get(f"{WES}/runs", params=params, headers=headers)
            assert page.status_code == 200, page.text
            body = page.json()
            assert len(body["runs"]) <= 37
            seen += [run["run_id"] for run in body["runs"]]
            token = body["next_page_token"]
            pages += 1
            # New runs arrive between pages: newer than every page already served.
            await add_runs(session_factory, runs_rows(team, 3, datetime.now(UTC)))
            if not token:
                break

        assert pages == 28  # 27 full pages and one of 1
        assert len(seen) == len(set(seen)) == 1000, "no run twice"
        assert set(seen) == {str(row["id"]) for row in existing}, "no run missed"
        newest_first = sorted(
            existing, key=lambda row: (row["created_at"], row["id"]), reverse=True
        )
        assert seen == [str(row["id"]) for row in newest_first]
        first = (await compute_client.get(f"{WES}/runs", headers=headers)).json()
        assert len(first["runs"]) == 50 and first["runs"][0]["tags"] == {}  # the newest: arrived
        assert first["runs"][0]["run_id"] not in seen

    async def test_summaries_carry_times_and_tags(
        self, compute_client: httpx.AsyncClient, team: Any, set_run: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        rows = runs_rows(team, 1, datetime.now(UTC), tags={"batch": "7"})
        await add_runs(session_factory, rows)
        started, ended = datetime(2026, 1, 2, 3, 4, tzinfo=UTC), datetime(2026, 1, 2, 5, tzinfo=UTC)
        await set_run(rows[0]["id"], running_at=started, finished_at=ended)

        body = (await compute_client.get(f"{WES}/runs", headers=team.headers("viewer"))).json()

        assert body == {
            "runs": [
                {
                    "run_id": str(rows[0]["id"]), "state": "COMPLETE", "tags": {"batch": "7"},
                    "start_time": started.isoformat(), "end_time": ended.isoformat(),
                }
            ],
            "next_page_token": "",
        }  # fmt: skip

    async def test_summaries_are_the_models_to_the_microsecond(
        self, compute_client: httpx.AsyncClient, team: Any, set_run: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        """The database renders the page: it must be what RunListResponse would have made
        (times as datetime.isoformat() in UTC, a fraction only when there is one, absent
        times left out, tags {} for a run launched through /api/v1)."""
        now = datetime.now(UTC)
        tagged = runs_rows(team, 1, now, tags={"batch": "7", "note": 'say "hi"'})
        plain = runs_rows(team, 1, now - timedelta(seconds=1))
        await add_runs(session_factory, tagged + plain)
        started = datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)
        # In another zone: the answer is in UTC whatever the run was stored with.
        ended = datetime(2026, 1, 2, 9, 0, 0, 1, tzinfo=timezone(timedelta(hours=5)))
        await set_run(tagged[0]["id"], workflow_started_at=started, finished_at=ended)

        response = await compute_client.get(
            f"{WES}/runs", params={"page_size": 1}, headers=team.headers("viewer")
        )
        following = await compute_client.get(
            f"{WES}/runs",
            params={"page_size": 1, "page_token": response.json()["next_page_token"]},
            headers=team.headers("viewer"),
        )

        assert response.status_code == 200 and response.headers["content-type"] == (
            "application/json"
        )
        page = RunListResponse.model_validate_json(response.content)
        assert response.json() == page.model_dump(exclude_none=True)
        assert response.json()["runs"] == [
            {
                "run_id": str(tagged[0]["id"]), "state": "COMPLETE",
                "start_time": "2026-01-02T03:04:05.120000+00:00",
                "end_time": "2026-01-02T04:00:00.000001+00:00",
                "tags": {"batch": "7", "note": 'say "hi"'},
            }
        ]  # fmt: skip
        assert page.next_page_token
        assert following.json() == {
            "runs": [{"run_id": str(plain[0]["id"]), "state": "COMPLETE", "tags": {}}],
            "next_page_token": "",
        }

    async def test_a_project_without_runs_has_an_empty_page(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await compute_client.get(f"{WES}/runs", headers=team.headers("viewer"))

        assert response.status_code == 200
        assert response.json() == {"runs": [], "next_page_token": ""}

    @pytest.mark.parametrize(
        "params",
        [
            {"page_token": "bm9wZQ"},  # base64 of "nope"
            {"page_token": "!!!"},
            {"page_token": "eyJrIjoidGFza3MiLCJpIjoxfQ"},  # a task list's token
            {"page_token": "eyJrIjoicnVucyIsInQiOiJ4IiwiaSI6InkifQ"},  # damaged inside
            # a time before year 1 in UTC: 0001-01-01T00:00:00+14:00
            {
                "page_token": "eyJrIjoicnVucyIsInQiOiIwMDAxLTAxLTAxVDAwOjAwOjAwKzE0OjAwIiwi"
                "aSI6IjAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMSJ9"
            },
            {"page_token": "x" * 201},
            {"page_size": "many"},
        ],
    )
    async def test_bad_paging_is_a_400(
        self, compute_client: httpx.AsyncClient, team: Any, params: dict[str, Any]
    ) -> None:
        response = await compute_client.get(
            f"{WES}/runs", params=params, headers=team.headers("viewer")
        )

        wes_error(response, 400)

    async def test_page_size_is_a_preference_kept_within_1_to_500(
        self, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        await add_runs(session_factory, runs_rows(team, 502, datetime.now(UTC)))
        headers = team.headers("viewer")

        sizes = [
            len(
                (
                    await compute_client.get(
                        f"{WES}/runs", params={"page_size": size}, headers=headers
                    )
                ).json()["runs"]
            )
            for size in (0, -3, 501, 10**12)
        ]

        assert sizes == [1, 1, 500, 500]


async def add_tasks(
    session_factory: async_sessionmaker[AsyncSession], run_id: uuid.UUID, count: int
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "run_id": run_id, "task_id": number, "status": "COMPLETED", "status_rank": 4,
            "process": "HELLO:FASTQC", "name": f"HELLO:FASTQC (S{number})", "exit_status": 0,
            "hash": f"ab/{number:06x}", "workdir": f"/work/ab/{number}", "trace": {},
            "submit_at": now, "start_at": now, "complete_at": now + timedelta(seconds=number),
        }
        for number in range(1, count + 1)
    ]  # fmt: skip
    async with session_factory() as session, session.begin():
        await TaskRepository(session).session.execute(insert(Task), rows)


class TestTasks:
    async def test_tasks_page_in_task_id_order_and_read_one_by_one(
        self, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        rows = runs_rows(team, 1, datetime.now(UTC))
        await add_runs(session_factory, rows)
        run_id = rows[0]["id"]
        await add_tasks(session_factory, run_id, 25)
        headers = team.headers("viewer")

        ids: list[str] = []
        token = ""
        while True:
            params: dict[str, Any] = {"page_size": 10, **({"page_token": token} if token else {})}
            page = await compute_client.get(
                f"{WES}/runs/{run_id}/tasks", params=params, headers=headers
            )
            assert page.status_code == 200, page.text
            ids += [task["id"] for task in page.json()["task_logs"]]
            token = page.json()["next_page_token"]
            if not token:
                break
        one = await compute_client.get(f"{WES}/runs/{run_id}/tasks/7", headers=headers)
        missing = await compute_client.get(f"{WES}/runs/{run_id}/tasks/99", headers=headers)
        not_a_number = await compute_client.get(f"{WES}/runs/{run_id}/tasks/x", headers=headers)

        assert ids == [str(n) for n in range(1, 26)]
        task = one.json()
        assert task["id"] == "7" and task["name"] == "HELLO:FASTQC (S7)" and task["exit_code"] == 0
        assert "hash: ab/000007" in task["system_logs"] and task["end_time"]
        assert task["stderr"].endswith(f"/api/v1/runs/{run_id}/tasks/7/logs?file=stderr")
        assert task["stdout"].endswith(f"/api/v1/runs/{run_id}/tasks/7/logs?file=stdout")
        bad_token = await compute_client.get(
            f"{WES}/runs/{run_id}/tasks", params={"page_token": "bm9wZQ"}, headers=headers
        )
        clamped = await compute_client.get(
            f"{WES}/runs/{run_id}/tasks", params={"page_size": 0}, headers=headers
        )
        assert "no task '99'" in wes_error(missing, 404)
        wes_error(not_a_number, 404)
        assert "No page of run" in wes_error(bad_token, 404)  # ListTasks has no 400
        assert len(clamped.json()["task_logs"]) == 1  # a preference, kept within 1-500


OTHER_PROJECT_ROUTES = [
    ("GET", "/runs/{run_id}"),
    ("GET", "/runs/{run_id}/status"),
    ("POST", "/runs/{run_id}/cancel"),
    ("GET", "/runs/{run_id}/tasks"),
    ("GET", "/runs/{run_id}/tasks/1"),
]


class TestIsolation:
    @pytest.fixture
    async def foreign_run(
        self, team: Any, factory: Any, session_factory: async_sessionmaker[AsyncSession]
    ) -> uuid.UUID:
        """A run (with a task) in a project of the same org that the team is not in."""
        other = await factory.project(team.org_id, members={})
        rows = runs_rows(team, 1, datetime.now(UTC))
        rows[0]["project_id"] = other
        rows[0]["state"] = "RUNNING"
        await add_runs(session_factory, rows)
        await add_tasks(session_factory, rows[0]["id"], 1)
        run_id: uuid.UUID = rows[0]["id"]
        return run_id

    @pytest.mark.parametrize(("method", "path"), OTHER_PROJECT_ROUTES)
    @pytest.mark.parametrize("with_header", [True, False])
    async def test_another_projects_run_is_not_found(
        self, compute_client: httpx.AsyncClient, team: Any, foreign_run: uuid.UUID,
        method: str, path: str, with_header: bool,
    ) -> None:  # fmt: skip
        headers = team.headers("admin")
        if not with_header:
            del headers["X-Project-ID"]

        response = await compute_client.request(
            method, WES + path.format(run_id=foreign_run), headers=headers
        )

        wes_error(response, 404)

    async def test_lists_and_counts_leave_other_projects_out(
        self, compute_client: httpx.AsyncClient, team: Any, foreign_run: uuid.UUID
    ) -> None:
        listed = await compute_client.get(f"{WES}/runs", headers=team.headers("admin"))
        info = await compute_client.get(f"{WES}/service-info", headers=team.headers("admin"))

        assert listed.json()["runs"] == []
        assert info.json()["system_state_counts"]["RUNNING"] == 0

    @pytest.mark.parametrize("authorization", [None, "Bearer nfh_pat_unknown", "Basic eDp5"])
    async def test_every_route_needs_a_valid_token(
        self, compute_client: httpx.AsyncClient, team: Any, foreign_run: uuid.UUID,
        authorization: str | None,
    ) -> None:  # fmt: skip
        headers = {"X-Project-ID": str(team.project_id)}
        if authorization is not None:
            headers["Authorization"] = authorization
        routes = [("GET", "/service-info"), ("GET", "/runs"), ("POST", "/runs"),
                  *OTHER_PROJECT_ROUTES]  # fmt: skip

        for method, path in routes:
            response = await compute_client.request(
                method, WES + path.format(run_id=foreign_run), headers=headers
            )

            wes_error(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)

    @pytest.mark.parametrize("exists", [True, False])
    async def test_a_project_you_are_not_in_is_refused_alike_whether_it_exists(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any, post_run: Post,
        exists: bool,
    ) -> None:  # fmt: skip
        elsewhere = await factory.project(team.org_id, members={}) if exists else uuid.uuid4()
        headers = {**team.headers("admin"), "X-Project-ID": str(elsewhere)}
        expected = f"Project {elsewhere} does not exist or you cannot see it."

        api = await compute_client.get("/api/v1/runs", headers=headers)
        answers = [await compute_client.get(WES + path, headers=headers)
                   for path in ("/runs", "/service-info")]  # fmt: skip
        answers.append(await post_run(headers=headers))

        # /api/v1 says 404; WES's spec lists no 404 on these routes, so they say 403. Both
        # answer a project that exists exactly as one that does not.
        assert api.status_code == 404 and api.json()["detail"] == expected
        for response in answers:
            assert wes_error(response, 403) == expected


class TestStatus:
    @pytest.mark.parametrize("with_header", [True, False])
    async def test_status_reads_the_run_once_with_or_without_the_project_header(
        self, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession], with_header: bool,
    ) -> None:  # fmt: skip
        rows = runs_rows(team, 1, datetime.now(UTC))
        rows[0]["state"] = "RUNNING"
        await add_runs(session_factory, rows)
        headers = team.headers("viewer")
        if not with_header:
            del headers["X-Project-ID"]
        # Every statement the driver sends, whichever layer sends it (the read goes to
        # asyncpg directly, past SQLAlchemy's events).
        driver = (await session_factory.kw["bind"].get_raw_connection()).driver_connection
        statements: list[str] = []

        def record(logged: Any) -> None:
            statements.append(logged.query)

        driver.add_query_logger(record)
        try:
            response = await compute_client.get(
                f"{WES}/runs/{rows[0]['id']}/status", headers=headers
            )
        finally:
            driver.remove_query_logger(record)

        assert response.status_code == 200, response.text
        assert response.json() == {"run_id": str(rows[0]["id"]), "state": "RUNNING"}
        assert sum("FROM compute.runs" in statement for statement in statements) == 1

    async def test_a_run_in_the_named_project_only(
        self, compute_client: httpx.AsyncClient, team: Any, factory: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        """The header names a project the caller is in; the run is in another one they are
        in too: not this project's run, a 404 (the project filter is the query's)."""
        other = await factory.project(team.org_id, members={team.viewer: "viewer"})
        rows = runs_rows(team, 1, datetime.now(UTC))
        rows[0]["project_id"] = other
        await add_runs(session_factory, rows)
        url = f"{WES}/runs/{rows[0]['id']}/status"

        named = await compute_client.get(url, headers=team.headers("viewer"))
        own = await compute_client.get(
            url, headers={**team.headers("viewer"), "X-Project-ID": str(other)}
        )

        wes_error(named, 404)
        assert own.json() == {"run_id": str(rows[0]["id"]), "state": "COMPLETE"}


class TestReadsOnTheirOwnPool:
    async def test_a_dropped_read_connection_is_replaced_at_the_next_read(
        self, compute_app: Any, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        """The hot reads go to asyncpg's own pool (no pre-ping): a connection the server
        dropped is not handed out again (a pool of one: a kept dead one would fail every
        time); the next read opens another."""
        name = f"wes-reads-{uuid.uuid4().hex[:8]}"
        pool = await create_read_pool(compute_app.state.settings, application_name=name, size=1)
        compute_app.state.reads_connect = pool.acquire
        url = f"{WES}/runs/{uuid.uuid4()}/status"
        headers = team.headers("viewer")
        backends = text("SELECT pid FROM pg_stat_activity WHERE application_name = :name")
        try:
            before = await compute_client.get(url, headers=headers)
            async with session_factory() as session:
                first = (await session.scalars(backends, {"name": name})).all()
                # Waits (up to 5 s) until the backend has gone.
                await session.execute(
                    text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first[0]}
                )
            after = await compute_client.get(url, headers=headers)
            async with session_factory() as session:
                # The test's transaction keeps a snapshot of pg_stat_activity: a fresh one.
                await session.execute(text("SELECT pg_stat_clear_snapshot()"))
                second = (await session.scalars(backends, {"name": name})).all()
        finally:
            await pool.close()

        wes_error(before, 404)
        wes_error(after, 404)
        assert len(first) == len(second) == 1 and first != second

    async def test_an_unreachable_database_is_a_503_to_retry(
        self, compute_app: Any, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        settings = compute_app.state.settings.model_copy(
            update={"DATABASE_URL": SecretStr("postgresql+asyncpg://nfhub@127.0.0.1:1/nfhub")}
        )
        pool = await create_read_pool(settings, application_name="wes-reads-nowhere", size=1)
        compute_app.state.reads_connect = pool.acquire
        try:
            status = await compute_client.get(
                f"{WES}/runs/{uuid.uuid4()}/status", headers=team.headers("viewer")
            )
            listing = await compute_client.get(f"{WES}/runs", headers=team.headers("viewer"))
        finally:
            await pool.close()

        for response in (status, listing):
            assert "database" in wes_error(response, 503).lower()
            assert int(response.headers["retry-after"]) >= 1


class TestRateLimits:
    """WES calls spend the caller's /api/v1 budgets, and a refusal is an ErrorResponse."""

    async def test_reads_past_the_limit_are_a_429_error_response_with_retry_after(
        self, compute_app: Any, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        compute_app.state.settings.RATE_LIMIT_READ = 3
        headers = team.headers("viewer")

        allowed = [await compute_client.get(f"{WES}/runs", headers=headers) for _ in range(2)]
        status = await compute_client.get(f"{WES}/runs/{uuid.uuid4()}/status", headers=headers)
        refused = [
            await compute_client.get(f"{WES}/runs", headers=headers),
            await compute_client.get(f"{WES}/service-info", headers=headers),
            await compute_client.get("/api/v1/runs", headers=headers),
        ]
        other_token = await compute_client.get(f"{WES}/runs", headers=team.headers("admin"))

        assert [r.headers["x-ratelimit-remaining"] for r in allowed] == ["2", "1"]
        assert wes_error(status, 404) and status.headers["x-ratelimit-remaining"] == "0"
        for response in refused[:2]:
            assert "Too many read requests from this token" in wes_error(response, 429)
            assert 1 <= int(response.headers["retry-after"]) <= 60
            assert response.headers["x-ratelimit-limit"] == "3"
            assert response.headers["x-ratelimit-remaining"] == "0"
        # The same budget as the rest of the API, in problem+json there.
        assert refused[2].status_code == 429
        assert refused[2].headers["content-type"].startswith("application/problem+json")
        assert other_token.status_code == 200

    async def test_writes_have_their_budget_and_callers_without_a_token_their_address(
        self, compute_app: Any, compute_client: httpx.AsyncClient, team: Any, post_run: Post
    ) -> None:
        compute_app.state.settings.RATE_LIMIT_WRITE = 2
        compute_app.state.settings.RATE_LIMIT_READ = 2

        writes = [await post_run(workflow_url=None) for _ in range(3)]
        cancel = await compute_client.post(
            f"{WES}/runs/{uuid.uuid4()}/cancel", headers=team.headers("editor")
        )
        anonymous = [await compute_client.get(f"{WES}/runs") for _ in range(3)]

        assert [r.status_code for r in writes] == [400, 400, 429]
        assert "Too many write requests from this token" in wes_error(writes[2], 429)
        assert "retry-after" in writes[2].headers
        wes_error(cancel, 429)
        assert [r.status_code for r in anonymous] == [401, 401, 429]
        assert "from this address" in wes_error(anonymous[2], 429)
        assert "retry-after" in anonymous[2].headers


class TestCancel:
    async def test_a_queued_run_is_canceled_and_canceling_again_changes_nothing(
        self, compute_client: httpx.AsyncClient, hello: Any, post_run: Post, team: Any
    ) -> None:
        run_id = (await post_run()).json()["run_id"]
        url = f"{WES}/runs/{run_id}/cancel"

        canceled = await compute_client.post(url, headers=team.headers("editor"))
        by_viewer = await compute_client.post(url, headers=team.headers("viewer"))
        again = await compute_client.post(url, headers=team.headers("editor"))

        assert canceled.status_code == 200 and canceled.json() == {"run_id": run_id}
        status = await compute_client.get(
            f"{WES}/runs/{run_id}/status", headers=team.headers("viewer")
        )
        assert status.json()["state"] == "CANCELED"
        wes_error(by_viewer, 403)
        assert again.status_code == 200 and again.json() == {"run_id": run_id}

    async def test_an_ended_run_stays_as_it_ended(
        self, compute_client: httpx.AsyncClient, hello: Any, post_run: Post, team: Any,
        set_run: Any,
    ) -> None:  # fmt: skip
        run_id = (await post_run()).json()["run_id"]
        await set_run(run_id, state="COMPLETE")

        response = await compute_client.post(
            f"{WES}/runs/{run_id}/cancel", headers=team.headers("editor")
        )

        assert response.status_code == 200
        status = await compute_client.get(
            f"{WES}/runs/{run_id}/status", headers=team.headers("viewer")
        )
        assert status.json()["state"] == "COMPLETE"


class TestServiceInfo:
    async def test_service_info_describes_nextflow_and_counts_the_projects_runs(
        self, compute_client: httpx.AsyncClient, team: Any,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        await add_runs(session_factory, runs_rows(team, 3, datetime.now(UTC)))

        info = (
            await compute_client.get(f"{WES}/service-info", headers=team.headers("viewer"))
        ).json()

        assert info["type"] == {"group": "org.ga4gh", "artifact": "wes", "version": "1.1.0"}
        assert info["workflow_type_versions"] == {"NFL": {"workflow_type_version": ["DSL2"]}}
        assert info["workflow_engine_versions"] == {
            "nextflow": {"workflow_engine_version": ["25.10.7"]}
        }
        assert info["supported_wes_versions"] == ["1.1.0"]
        assert info["system_state_counts"]["COMPLETE"] == 3
        assert info["system_state_counts"]["QUEUED"] == 0
        names = {p["name"] for p in info["default_workflow_engine_parameters"]}
        assert names == {"compute_env_id", "profile", "secrets", "name", "revision"}
        assert info["auth_instructions_url"].endswith("/docs")

    async def test_the_primary_compute_environment_is_the_default(
        self, compute_client: httpx.AsyncClient, team: Any, tmp_path: Path
    ) -> None:
        created = await compute_client.post(
            "/api/v1/compute-envs",
            json={
                "name": "local", "backend": "local", "work_dir": str(tmp_path / "work"),
                "launch_dir": str(tmp_path / "launch"),
            },
            headers=team.headers("admin"),
        )  # fmt: skip
        assert created.status_code == 201, created.text
        primary = await compute_client.post(
            f"/api/v1/compute-envs/{created.json()['id']}/primary", headers=team.headers("admin")
        )
        assert primary.status_code == 200, primary.text

        info = (
            await compute_client.get(f"{WES}/service-info", headers=team.headers("viewer"))
        ).json()

        defaults = {
            p["name"]: p.get("default_value") for p in info["default_workflow_engine_parameters"]
        }
        assert defaults["compute_env_id"] == created.json()["id"]
        assert info["tags"]["compute_env"] == "local"


class TestErrors:
    async def test_only_wes_paths_answer_with_error_responses(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        no_token = await compute_client.get(f"{WES}/runs")
        unknown_path = await compute_client.get(
            f"{WES}/nothing-here", headers=team.headers("viewer")
        )
        wrong_method = await compute_client.delete(f"{WES}/runs", headers=team.headers("viewer"))
        no_project = await compute_client.get(
            f"{WES}/service-info",
            headers={"Authorization": team.headers("viewer")["Authorization"]},
        )
        api = await compute_client.get("/api/v1/runs/not-a-uuid", headers=team.headers("viewer"))

        assert no_token.headers["x-request-id"]
        wes_error(no_token, 401)
        wes_error(unknown_path, 404)
        wes_error(wrong_method, 405)
        assert "X-Project-ID" in wes_error(no_project, 400)
        assert api.status_code == 422 and api.headers["content-type"] == "application/problem+json"


class TestAttachments:
    async def test_when_allowed_attachments_land_in_the_projects_storage(
        self, compute_app: Any, compute_client: httpx.AsyncClient, hello: Any, post_run: Post,
        team: Any,
    ) -> None:  # fmt: skip
        compute_app.state.settings.WES_ALLOW_ATTACHMENTS = True
        sheet = b"sample,fastq_1,fastq_2\nS9,raw/S9_R1.fastq.gz,raw/S9_R2.fastq.gz\n"

        response = await post_run(
            workflow_params={"input": "sheet.csv"},
            files=[("workflow_attachment", ("sheet.csv", sheet, "text/csv"))],
        )

        assert response.status_code == 200, response.text
        run = await compute_client.get(
            f"/api/v1/runs/{response.json()['run_id']}", headers=team.headers("viewer")
        )
        path = run.json()["input"]["path"]
        assert path.startswith("wes/") and path.endswith("/sheet.csv")
        assert (team.storage / path).read_bytes() == sheet

    async def test_a_body_over_the_limit_is_a_413_error_response(
        self, compute_app: Any, hello: Any, post_run: Post
    ) -> None:
        limit = compute_app.state.settings.MAX_REQUEST_BODY_BYTES
        response = await post_run(
            files=[
                ("workflow_attachment", ("big.bin", b"x" * (limit + 1), "application/octet-stream"))
            ]
        )

        assert "larger than" in wes_error(response, 413)
