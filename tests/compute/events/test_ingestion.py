"""Nextflow's weblog events, in the real payload shapes (../shared/fixtures/nextflow/weblog/).

The weblog is best effort: events come twice, out of order, with fields added or missing, or
not at all. Ingestion alone must reach the same tasks and counters from any ordering of the
same events; when events are lost, the trace file read at the end fills the gaps.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.backends.launchdir import TRACE_FIELDS
from nfhub_compute.backends.local import LocalBackend, _boot_id, process_identity
from nfhub_compute.config import Settings
from nfhub_compute.runs.weblog import weblog_token
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler
from support.inprocess import FIXTURES

WEBLOG = FIXTURES / "nextflow" / "weblog"
PROBLEM_JSON = "application/problem+json"
# Above the kernel's largest pid: the launcher in a handle with it is surely gone.
GONE_PID = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
SUCCEEDED = [
    ("NFCORE_RNASEQ:RNASEQ:FASTQC", "S1_T1"),
    ("NFCORE_RNASEQ:RNASEQ:FASTQC", "S2_T1"),
    ("NFCORE_RNASEQ:RNASEQ:FASTQC", "S3_T1"),
    ("NFCORE_RNASEQ:RNASEQ:STAR_ALIGN", "S1_T1"),
]

pytestmark = pytest.mark.requires_path(WEBLOG, "the weblog fixtures")


def fixture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((WEBLOG / name).read_text())
    return document


def clean_sequence() -> list[dict[str, Any]]:
    """A failed rnaseq run: four tasks succeed, then STAR_ALIGN (S2_T1) fails (task 57)."""
    submitted, completed = (
        fixture("02-process_submitted.json"),
        fixture("03-process_completed.json"),
    )
    events = [fixture("01-started.json")]
    for task_id, (process, tag) in enumerate(SUCCEEDED, start=1):
        ids = {"task_id": task_id, "process": process, "tag": tag, "name": f"{process} ({tag})",
               "hash": f"{task_id:02x}/abcdef", "native_id": str(1000 + task_id)}  # fmt: skip
        sub = copy.deepcopy(submitted)
        sub["trace"].update(ids)
        started = copy.deepcopy(sub)
        started["event"] = "process_started"
        started["trace"].update(status="RUNNING", start=sub["trace"]["submit"] + 500)
        done = copy.deepcopy(completed)
        done["trace"].update(ids)
        events += [sub, started, done]
    error = fixture("04-error.json")
    failing = {key: error["trace"][key] for key in ("task_id", "hash", "name", "process", "tag")}
    fail_sub = copy.deepcopy(submitted)
    fail_sub["trace"].update(failing)
    fail_done = copy.deepcopy(error)
    fail_done["event"] = "process_completed"
    events += [fail_sub, fail_done, error, fixture("05-completed-failed.json")]
    return events


def final_traces(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each task's last trace: what Nextflow's trace file holds at the end."""
    last: dict[int, dict[str, Any]] = {}
    for event in events:
        if event.get("trace") and event["event"] in ("process_completed", "error"):
            last[event["trace"]["task_id"]] = event["trace"]
    return last


def write_trace(path: Path, traces: dict[int, dict[str, Any]]) -> None:
    columns = TRACE_FIELDS.split(",")
    lines = ["\t".join(columns)]
    for trace in traces.values():
        lines.append("\t".join("-" if trace.get(c) is None else str(trace.get(c)) for c in columns))
    path.write_text("\n".join(lines) + "\n")


Post = Callable[..., Any]


def body_task_id(body: bytes) -> int:
    return int(json.loads(body)["trace"]["task_id"])


@pytest.fixture
def post_event(compute_client: httpx.AsyncClient, compute_settings: Settings) -> Post:
    async def post(run_id: str, event: Any, *, token: str | None = None) -> httpx.Response:
        secret = token if token is not None else weblog_token(compute_settings, uuid.UUID(run_id))
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        return await compute_client.post(
            f"/api/v1/runs/{run_id}/events",
            params={"token": secret},
            content=body,
            headers={"Content-Type": "application/json"},
        )

    return post


async def snapshot(client: httpx.AsyncClient, team: Any, run_id: str) -> dict[str, Any]:
    headers = team.headers("viewer")
    run = (await client.get(f"/api/v1/runs/{run_id}", headers=headers)).json()
    progress = (await client.get(f"/api/v1/runs/{run_id}/progress", headers=headers)).json()
    tasks = (await client.get(f"/api/v1/runs/{run_id}/tasks", headers=headers)).json()["items"]
    kept = ("state", "exit_code", "session_id", "workflow_started_at", "workflow_completed_at",
            "workflow_success", "error_message", "nextflow_version", "commit_id")  # fmt: skip
    return {
        "run": {key: run[key] for key in kept},
        "totals": progress["totals"],
        "processes": progress["processes"],
        "stats": progress["workflow_stats"],
        "tasks": [
            {key: task[key] for key in ("task_id", "status", "exit_status", "process", "tag",
                                        "hash", "peak_rss", "submit_at", "complete_at")}
            for task in tasks
        ],
    }  # fmt: skip


def shuffled(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    mixed = list(events)
    random.Random(7).shuffle(mixed)
    return mixed


def with_unknown_fields(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    changed = copy.deepcopy(events)
    for event in changed:
        event["fromTheFuture"] = {"nested": [1, 2, 3]}
        for part in ("trace", "metadata"):
            if isinstance(event.get(part), dict):
                event[part]["unheardOf"] = "value"
    return changed


def without_optional_fields(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only what identifies an event and a task is left (older Nextflow, plugin changes…)."""
    changed = copy.deepcopy(events)
    for event in changed:
        for key in ("utcTime", "runName", "runId"):
            event.pop(key, None)
        if event.get("trace"):
            event["trace"] = {key: event["trace"][key] for key in ("task_id", "status", "name")}
        if event.get("metadata"):
            event["metadata"].pop("parameters", None)
    return changed


VARIANTS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
    "replayed": lambda events: events + events,
    "duplicated": lambda events: [event for event in events for _ in (1, 2)],
    "shuffled": shuffled,
    "reversed": lambda events: list(reversed(events)),
    "unknown fields": with_unknown_fields,
}


class TestIngestion:
    async def test_the_clean_sequence_gives_tasks_counters_and_workflow_facts(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="INITIALIZING")
        for event in clean_sequence():
            response = await post_event(run["id"], event)
            assert response.status_code == 204, response.text

        seen = await snapshot(compute_client, team, run["id"])
        assert seen["run"]["state"] == "RUNNING"  # the exit code, not an event, ends a run
        assert seen["run"]["session_id"] == "9e2d6c7a-4f1b-4a63-9d3e-2f7b5a1c8e04"
        assert seen["run"]["workflow_started_at"] == "2024-05-14T08:21:02.870000Z"  # object-shaped
        assert seen["run"]["workflow_completed_at"] == "2024-05-14T09:03:01.412000Z"
        assert seen["run"]["workflow_success"] is False
        assert "STAR_ALIGN (S2_T1)" in seen["run"]["error_message"]
        assert seen["run"]["nextflow_version"] == "24.04.4"
        run_body = (
            await compute_client.get(f"/api/v1/runs/{run['id']}", headers=team.headers("viewer"))
        ).json()
        assert run_body["resolved_params"]["aligner"] == "star_salmon"  # metadata.parameters
        assert seen["totals"] == {"submitted": 0, "running": 0, "succeeded": 4, "failed": 1,
                                  "cached": 0, "aborted": 0, "total": 5}  # fmt: skip
        assert {p["process"]: (p["succeeded"], p["failed"]) for p in seen["processes"]} == {
            "NFCORE_RNASEQ:RNASEQ:FASTQC": (3, 0),
            "NFCORE_RNASEQ:RNASEQ:STAR_ALIGN": (1, 1),
        }
        assert seen["stats"]["succeedCount"] == 41  # Nextflow's own totals, kept as sent
        failed = next(task for task in seen["tasks"] if task["task_id"] == 57)
        assert (failed["status"], failed["exit_status"]) == ("FAILED", 137)
        first = seen["tasks"][0]
        assert first["submit_at"] == "2024-05-14T08:22:10.512000Z"  # epoch ms
        assert first["peak_rss"] == 613416960

    @pytest.mark.parametrize("variant", sorted(VARIANTS))
    async def test_any_ordering_of_the_same_events_ends_the_same(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        variant: str,
    ) -> None:
        clean, other = (await launch()).json(), (await launch()).json()
        for run, events in (
            (clean, clean_sequence()),
            (other, VARIANTS[variant](clean_sequence())),
        ):
            await set_run(run["id"], state="INITIALIZING")
            for event in events:
                assert (await post_event(run["id"], event)).status_code == 204

        assert await snapshot(compute_client, team, other["id"]) == await snapshot(
            compute_client, team, clean["id"]
        )

    async def test_missing_optional_fields_leave_the_counters_as_they_were(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
    ) -> None:
        clean, sparse = (await launch()).json(), (await launch()).json()
        for run, events in (
            (clean, clean_sequence()),
            (sparse, without_optional_fields(clean_sequence())),
        ):
            await set_run(run["id"], state="INITIALIZING")
            for event in events:
                assert (await post_event(run["id"], event)).status_code == 204

        full = await snapshot(compute_client, team, clean["id"])
        thin = await snapshot(compute_client, team, sparse["id"])
        assert thin["totals"] == full["totals"] and thin["processes"] == full["processes"]


class TestLostEvents:
    """Events lost or stripped: at the end the trace file (Nextflow's own record) completes them."""

    @pytest.fixture
    def finish(
        self, compute_settings: Settings, session_factory: Any, set_run: Any, tmp_path: Path
    ) -> Callable[..., Any]:
        backend = LocalBackend(compute_settings.WORK_ROOT)
        reconciler = Reconciler(
            session_factory, backend, compute_settings,
            Dispatcher(session_factory, backend, compute_settings, "test"),
        )  # fmt: skip

        async def end(run_id: str, traces: dict[int, dict[str, Any]], exit_code: int) -> None:
            """The launcher has exited with ``exit_code`` and left a trace file."""
            launch_dir = tmp_path / run_id
            launch_dir.mkdir()
            (launch_dir / "exit.json").write_text(json.dumps({"exit_code": exit_code}))
            write_trace(launch_dir / "trace.txt", traces)
            handle = {"run_id": run_id, "pid": GONE_PID, "start_ticks": -1, "boot_id": _boot_id(),
                      "host": backend.host, "launch_dir": str(launch_dir)}  # fmt: skip
            await set_run(run_id, backend_handle=handle)
            await reconciler.reconcile_once()

        return end

    @pytest.mark.parametrize("kept", [0, 1, 7, 12])
    async def test_a_truncated_stream_ends_like_the_clean_one(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        finish: Any,
        kept: int,
    ) -> None:
        events = clean_sequence()
        clean, cut = (await launch()).json(), (await launch()).json()
        for run, posted in ((clean, events), (cut, events[:kept])):
            await set_run(run["id"], state="RUNNING")
            for event in posted:
                assert (await post_event(run["id"], event)).status_code == 204
            await finish(run["id"], final_traces(events), exit_code=1)

        ended_clean = await snapshot(compute_client, team, clean["id"])
        ended_cut = await snapshot(compute_client, team, cut["id"])
        assert ended_clean["run"]["state"] == ended_cut["run"]["state"] == "EXECUTOR_ERROR"
        assert ended_cut["totals"] == ended_clean["totals"]
        assert ended_cut["processes"] == ended_clean["processes"]
        assert [(t["task_id"], t["status"]) for t in ended_cut["tasks"]] == [
            (t["task_id"], t["status"]) for t in ended_clean["tasks"]
        ]

    async def test_stripped_events_are_completed_by_the_trace(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        finish: Any,
    ) -> None:
        events = clean_sequence()
        clean, sparse = (await launch()).json(), (await launch()).json()
        for run, posted in ((clean, events), (sparse, without_optional_fields(events))):
            await set_run(run["id"], state="RUNNING")
            for event in posted:
                assert (await post_event(run["id"], event)).status_code == 204
            await finish(run["id"], final_traces(events), exit_code=1)

        full = await snapshot(compute_client, team, clean["id"])
        thin = await snapshot(compute_client, team, sparse["id"])
        assert thin["totals"] == full["totals"] and thin["processes"] == full["processes"]
        assert [t["hash"] for t in thin["tasks"]] == [t["hash"] for t in full["tasks"]]

    async def test_cached_tasks_come_only_from_the_trace(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        set_run: Any,
        finish: Any,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="RUNNING")
        cached = {1: {"task_id": 1, "status": "CACHED", "process": "A", "name": "A (x)", "exit": 0}}
        await finish(run["id"], cached, exit_code=0)

        seen = await snapshot(compute_client, team, run["id"])
        assert seen["run"]["state"] == "COMPLETE"
        assert seen["totals"]["cached"] == 1 and seen["totals"]["total"] == 1


class TestStateFromEvents:
    @pytest.mark.parametrize(
        ("before", "after"),
        [("INITIALIZING", "RUNNING"), ("UNKNOWN", "RUNNING"), ("RUNNING", "RUNNING"),
         ("CANCELING", "CANCELING"), ("COMPLETE", "COMPLETE"), ("CANCELED", "CANCELED")],
    )  # fmt: skip
    async def test_an_event_wakes_a_run_but_never_moves_it_back(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        before: str,
        after: str,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state=before)

        response = await post_event(run["id"], fixture("02-process_submitted.json"))

        assert response.status_code == 204
        seen = (
            await compute_client.get(f"/api/v1/runs/{run['id']}", headers=team.headers("viewer"))
        ).json()
        assert seen["state"] == after
        assert seen["last_event_at"] is not None


class TestBadEvents:
    @pytest.mark.parametrize(
        "body", [b"{not json", b"", b"[1, 2]", b'"started"', b"\xff\xfe", b"null"]
    )
    async def test_malformed_bodies_are_400_and_store_nothing(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        body: bytes,
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="INITIALIZING")

        response = await post_event(run["id"], body)

        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
        seen = await snapshot(compute_client, team, run["id"])
        assert seen["run"]["state"] == "INITIALIZING" and seen["totals"]["total"] == 0
        fetched = await compute_client.get(
            f"/api/v1/runs/{run['id']}", headers=team.headers("viewer")
        )
        assert fetched.json()["last_event_at"] is None

    # Non-ASCII: hmac.compare_digest raises TypeError on such a str (schemathesis found a 500).
    @pytest.mark.parametrize(
        "token",
        ["", "0" * 64, "not-hex", pytest.param("é" * 64, id="latin"),
         pytest.param("\U0001f9ec", id="emoji")],
    )  # fmt: skip
    async def test_a_wrong_secret_is_401(
        self, hello: Any, launch: Any, post_event: Post, token: str
    ) -> None:
        run = (await launch()).json()
        response = await post_event(run["id"], fixture("02-process_submitted.json"), token=token)

        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_one_runs_secret_does_not_open_another(
        self, compute_settings: Settings, hello: Any, launch: Any, post_event: Post
    ) -> None:
        first, second = (await launch()).json(), (await launch()).json()
        token = weblog_token(compute_settings, uuid.UUID(first["id"]))

        response = await post_event(second["id"], fixture("01-started.json"), token=token)

        assert response.status_code == 401

    async def test_a_url_that_names_no_run_is_404(self, compute_client: httpx.AsyncClient) -> None:
        response = await compute_client.post(
            "/api/v1/runs/not-a-uuid/events", params={"token": "x"}, json={}
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_without_a_token_it_is_401(
        self, compute_client: httpx.AsyncClient, hello: Any, launch: Any
    ) -> None:
        run = (await launch()).json()
        response = await compute_client.post(f"/api/v1/runs/{run['id']}/events", json={})

        assert response.status_code == 401

    @pytest.mark.parametrize(
        "event",
        [{"event": "process_submitted", "trace": {"status": "SUBMITTED"}},
         {"event": "process_completed", "trace": {"task_id": "three"}},
         {"event": "something_new"}, {}],
    )  # fmt: skip
    async def test_events_without_a_usable_task_are_taken_as_signs_of_life(
        self,
        compute_client: httpx.AsyncClient,
        hello: Any,
        launch: Any,
        team: Any,
        post_event: Post,
        set_run: Any,
        event: dict[str, Any],
    ) -> None:
        run = (await launch()).json()
        await set_run(run["id"], state="INITIALIZING")

        response = await post_event(run["id"], event)

        assert response.status_code == 204
        seen = await snapshot(compute_client, team, run["id"])
        assert seen["run"]["state"] == "RUNNING" and seen["totals"]["total"] == 0

    async def test_an_oversized_event_is_413(
        self, hello: Any, launch: Any, post_event: Post
    ) -> None:
        run = (await launch()).json()
        event = fixture("01-started.json")
        event["metadata"]["parameters"]["huge"] = "x" * (1024 * 1024)

        assert (await post_event(run["id"], event)).status_code == 413

    @pytest.mark.parametrize(
        ("query", "status"),
        [
            ("token={good}", 204),
            ("token={encoded}", 204),  # percent-encoded, as any client may
            ("x=1&token={good}", 204),
            ("token=wrong&token={good}", 204),  # the last one counts, as everywhere
            ("token={good}&token=wrong", 401),
            ("token={good}x", 401),
            ("token=", 401),
            ("tok=en", 401),
        ],
    )
    async def test_the_token_is_read_however_the_query_spells_it(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        hello: Any,
        launch: Any,
        query: str,
        status: int,
    ) -> None:
        run = (await launch()).json()
        good = weblog_token(compute_settings, uuid.UUID(run["id"]))
        encoded = "".join(f"%{ord(c):02X}" for c in good)
        url = f"/api/v1/runs/{run['id']}/events?" + query.format(good=good, encoded=encoded)

        response = await compute_client.post(url, json=fixture("02-process_submitted.json"))

        assert response.status_code == status
        if status != 204:
            assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["x-request-id"]

    async def test_a_chunked_event_is_read_whole_and_limited_as_it_streams(
        self,
        compute_client: httpx.AsyncClient,
        compute_settings: Settings,
        hello: Any,
        launch: Any,
        team: Any,
    ) -> None:
        run = (await launch()).json()
        token = weblog_token(compute_settings, uuid.UUID(run["id"]))
        body = json.dumps(fixture("02-process_submitted.json")).encode()

        async def chunks(data: bytes, size: int) -> Any:
            for start in range(0, len(data), size):
                yield data[start : start + size]

        url = f"/api/v1/runs/{run['id']}/events"
        small = await compute_client.post(url, params={"token": token}, content=chunks(body, 7))
        huge = json.dumps({"event": "started", "pad": "x" * (2 * 1024 * 1024)}).encode()
        large = await compute_client.post(
            url, params={"token": token}, content=chunks(huge, 64 * 1024)
        )

        assert small.status_code == 204
        seen = await snapshot(compute_client, team, run["id"])
        assert [task["task_id"] for task in seen["tasks"]] == [body_task_id(body)]
        assert large.status_code == 413
        assert large.headers["content-type"] == PROBLEM_JSON

    async def test_events_are_not_rate_limited_but_the_api_is(
        self,
        compute_settings: Settings,
        admin_transport: Any,
        files_app: Any,
        session_factory: Any,
        hello: Any,
        launch: Any,
        team: Any,
    ) -> None:
        from nfhub_compute.main import create_app
        from nfhub_shared.testing.transport import RoutingTransport

        settings = compute_settings.model_copy(update={"RATE_LIMIT_WRITE": 3})
        transport = RoutingTransport(
            {"admin.test": admin_transport, "files.test": httpx.ASGITransport(app=files_app)}
        )
        app = create_app(settings, http_transport=transport)
        run = (await launch()).json()
        token = weblog_token(settings, uuid.UUID(run["id"]))
        async with app.router.lifespan_context(app):
            app.state.sessionmaker = session_factory
            app.state.events_connect = session_factory
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://compute.test"
            ) as client:
                events = [
                    await client.post(f"/api/v1/runs/{run['id']}/events",
                                      params={"token": token}, json={"event": "x"})
                    for _ in range(10)
                ]  # fmt: skip
                cancels = [
                    await client.post(f"/api/v1/runs/{run['id']}/relaunch", json={},
                                      headers=team.headers("editor"))
                    for _ in range(5)
                ]  # fmt: skip

        assert {response.status_code for response in events} == {204}
        assert [response.status_code for response in cancels][-1] == 429


def test_the_gone_pid_is_no_process() -> None:
    assert process_identity(GONE_PID) is None
