"""Task files and the error at a glance: a task's .command.* files shipped by the worker that
owns the run (the real local backend reads them; the API never does), read through the API."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import task_values
from nfhub_compute.models import TaskFileFetch
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.tasks.repository import TaskFileRepository, TaskRepository
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler

PROBLEM_JSON = "application/problem+json"


def worker(session_factory: Any, settings: Settings) -> Reconciler:
    backend = LocalBackend(settings.WORK_ROOT)
    dispatcher = Dispatcher(session_factory, backend, settings, "test")
    return Reconciler(session_factory, backend, settings, dispatcher)


async def get(client: httpx.AsyncClient, team: Any, path: str, **params: Any) -> httpx.Response:
    return await client.get(f"/api/v1/runs/{path}", params=params, headers=team.headers("viewer"))


async def until_shipped(
    client: httpx.AsyncClient, team: Any, reconciler: Reconciler, path: str, **params: Any
) -> tuple[httpx.Response, httpx.Response]:
    """(the first answer, the answer once the worker served the request)."""
    first = await get(client, team, path, **params)
    await reconciler.reconcile_once()
    return first, await get(client, team, path, **params)


class Folders:
    """A run launched on this host by the local backend, with task folders as Nextflow leaves
    them (written here; the run's launcher is long gone)."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.run_id = run_id
        self.launch = root / "launch" / run_id
        self.work = root / "work" / run_id
        self.launch.mkdir(parents=True)
        self.work.mkdir(parents=True)

    def task(self, task_id: int, **files: str | bytes) -> Path:
        folder = self.work / f"{task_id:02x}" / f"{task_id:030x}"
        folder.mkdir(parents=True)
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            (folder / f".command.{name}").write_bytes(data)
        return folder


@pytest.fixture
async def folders(
    hello: Any, launch: Any, set_run: Any, compute_settings: Settings, tmp_path: Path
) -> Folders:
    run = (await launch()).json()
    made = Folders(tmp_path / "host", run["id"])
    await set_run(
        run["id"], state="COMPLETE", backend="local", owner_host=compute_settings.WORKER_HOST,
        launch_dir=str(made.launch), work_dir=str(made.work), finished_at=datetime.now(UTC),
        backend_handle={"launch_dir": str(made.launch), "work_dir": str(made.work), "pid": 1},
    )  # fmt: skip
    return made


async def add_task(
    session_factory: Any, run_id: str, task_id: int, workdir: Path | str | None, **trace: Any
) -> None:
    row = task_values({"task_id": task_id, "status": "COMPLETED", "process": "HELLO:FASTQC",
                       "name": f"HELLO:FASTQC (s{task_id})", "exit": 0,
                       "workdir": None if workdir is None else str(workdir), **trace})  # fmt: skip
    assert row is not None
    async with session_factory() as session, session.begin():
        await TaskRepository(session).upsert(uuid.UUID(run_id), [row])


class TestOnDemand:
    async def test_a_tasks_files_are_read_when_asked_then_served_from_the_database(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        workdir = folders.task(
            1, sh="fastqc s1\n", out="analysed s1\n",
            err="warning: weblog at https://hub.example/events?token=s3cr3t&x=1\n",
            log="analysed s1\nwarning\n",
        )  # fmt: skip
        await add_task(session_factory, folders.run_id, 1, workdir)
        reconciler = worker(session_factory, compute_settings)

        pending, stderr = await until_shipped(
            compute_client, team, reconciler, f"{folders.run_id}/tasks/1/logs", file="stderr"
        )
        shutil.rmtree(workdir)  # shipped: a cleanup no longer matters
        answers = {
            name: await get(compute_client, team, f"{folders.run_id}/tasks/1/logs", file=name)
            for name in ("stdout", "log", "script")
        }
        detail = await get(compute_client, team, f"{folders.run_id}/tasks/1")

        assert pending.status_code == 202, pending.text
        assert pending.headers["retry-after"] == "1"
        assert pending.json()["state"] == "pending"
        assert stderr.status_code == 200, stderr.text
        assert stderr.headers["content-type"].startswith("text/plain")
        assert stderr.text == "warning: weblog at https://hub.example/events?token=[redacted]&x=1\n"
        assert stderr.headers["x-truncated"] == "false"
        assert [answers[name].text for name in ("stdout", "log", "script")] == [
            "analysed s1\n", "analysed s1\nwarning\n", "fastqc s1\n",
        ]  # fmt: skip
        body = detail.json()
        assert (body["files_state"], body["workdir"]) == ("shipped", str(workdir))
        assert {file["file"]: file["size"] for file in body["files"]} == {
            "log": 20, "script": 10, "stderr": 63, "stdout": 12,
        }  # fmt: skip

    async def test_a_removed_work_dir_is_a_404_problem_that_says_so(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        workdir = folders.task(2, err="boom\n")
        shutil.rmtree(workdir)
        await add_task(session_factory, folders.run_id, 2, workdir)
        reconciler = worker(session_factory, compute_settings)

        pending, gone = await until_shipped(
            compute_client, team, reconciler, f"{folders.run_id}/tasks/2/logs"
        )
        detail = await get(compute_client, team, f"{folders.run_id}/tasks/2")

        assert pending.status_code == 202
        assert gone.status_code == 404, gone.text
        assert gone.headers["content-type"] == PROBLEM_JSON
        assert gone.json()["detail"] == (
            "Task 2's files were never shipped and cannot be read now: "
            f"The task's work dir {workdir} is gone."
        )
        assert (detail.json()["files_state"], detail.json()["files"]) == ("gone", [])

    async def test_a_work_dir_outside_the_runs_is_never_read(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any, tmp_path: Path,
    ) -> None:  # fmt: skip
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / ".command.err").write_text("not the run's\n")
        # The pipeline reported it (a weblog event is the pipeline's word).
        await add_task(session_factory, folders.run_id, 3, elsewhere)
        inside_link = folders.task(4)
        (inside_link / ".command.err").symlink_to(elsewhere / ".command.err")
        await add_task(session_factory, folders.run_id, 4, inside_link)
        reconciler = worker(session_factory, compute_settings)

        _, outside = await until_shipped(
            compute_client, team, reconciler, f"{folders.run_id}/tasks/3/logs"
        )
        _, linked = await until_shipped(
            compute_client, team, reconciler, f"{folders.run_id}/tasks/4/logs"
        )

        assert outside.status_code == 404
        assert "is not inside the run's work directory" in outside.json()["detail"]
        assert linked.status_code == 404
        assert "cannot be read" in linked.json()["detail"]

    async def test_a_huge_stderr_keeps_its_head_and_tail_around_a_marker_and_pages(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        lines = [f"stderr line {n:06d}\n" for n in range(20_000)]  # 19 B each, 380 kB
        workdir = folders.task(5, err="".join(lines))
        await add_task(session_factory, folders.run_id, 5, workdir)
        settings = compute_settings.model_copy(update={"TASK_LOG_MAX_BYTES": 4096})
        reconciler = worker(session_factory, settings)

        _, whole = await until_shipped(
            compute_client, team, reconciler, f"{folders.run_id}/tasks/5/logs"
        )
        first = await get(compute_client, team, f"{folders.run_id}/tasks/5/logs", limit=1000)

        assert whole.status_code == 200
        assert whole.headers["x-truncated"] == "true"
        assert whole.headers["x-file-size"] == "380000"
        shown = whole.text.split("\n")
        marker = next(line for line in shown if line.startswith("[nfhub]"))
        head, tail = shown[: shown.index(marker)], shown[shown.index(marker) + 1 :]
        assert head == [line.rstrip("\n") for line in lines[: len(head)]]
        assert tail[:-1] == [line.rstrip("\n") for line in lines[-(len(tail) - 1) :]]
        assert len(head) == len(tail) - 1 == 2048 // 19  # whole lines of each half
        cut = 380_000 - 19 * (len(head) + len(tail) - 1)
        assert marker == (
            f"[nfhub] {cut} bytes cut here: the file has 380000 bytes and at most "
            "COMPUTE_TASK_LOG_MAX_BYTES (4096) are kept, its head and its tail; the whole file "
            f"is {workdir}/.command.err."
        )
        assert first.text == whole.text[:1000]
        assert first.headers["x-total-length"] == str(len(whole.text))
        assert "offset=1000" in first.headers["link"] and 'rel="next"' in first.headers["link"]

    async def test_a_request_no_worker_serves_is_a_503_after_a_minute(
        self, folders: Folders, session_factory: Any, compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:  # fmt: skip
        await add_task(session_factory, folders.run_id, 6, folders.task(6))
        first = await get(compute_client, team, f"{folders.run_id}/tasks/6/logs")
        async with session_factory() as session, session.begin():
            await session.execute(
                update(TaskFileFetch).values(requested_at=datetime.now(UTC) - timedelta(minutes=2))
            )
        later = await get(compute_client, team, f"{folders.run_id}/tasks/6/logs")

        assert first.status_code == 202
        assert later.status_code == 503, later.text
        assert later.headers["content-type"] == PROBLEM_JSON
        assert "no worker has read them" in later.json()["detail"]


class TestShippedOnTheirOwn:
    async def test_failed_tasks_are_shipped_up_to_the_runs_bound_and_never_twice(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        for task_id in (1, 2, 3):
            workdir = folders.task(task_id, err=f"task {task_id} failed\n")
            status = "COMPLETED" if task_id == 1 else "FAILED"
            await add_task(session_factory, folders.run_id, task_id, workdir, status=status)
        settings = compute_settings.model_copy(update={"TASK_LOG_AUTO_TASKS": 1})
        reconciler = worker(session_factory, settings)
        async with session_factory() as session:
            run = await RunRepository(session).get(uuid.UUID(folders.run_id))
        assert run is not None

        await reconciler.task_files.ship_failed(run, reconciler.backend)
        shutil.rmtree(folders.work)  # a second pass has nothing left to read
        await reconciler.task_files.ship_failed(run, reconciler.backend)
        states = [
            (await get(compute_client, team, f"{folders.run_id}/tasks/{task_id}")).json()
            for task_id in (1, 2, 3)
        ]
        stderr = await get(compute_client, team, f"{folders.run_id}/tasks/2/logs")

        assert [state["files_state"] for state in states] == ["none", "shipped", "none"]
        assert (stderr.status_code, stderr.text) == (200, "task 2 failed\n")

    async def test_a_running_tasks_files_are_read_again_on_refresh(
        self, folders: Folders, session_factory: Any, compute_settings: Settings,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        workdir = folders.task(9, out="step 1\n")
        await add_task(session_factory, folders.run_id, 9, workdir, status="RUNNING")
        reconciler = worker(session_factory, compute_settings)
        path = f"{folders.run_id}/tasks/9/logs"

        _, before = await until_shipped(compute_client, team, reconciler, path, file="stdout")
        (workdir / ".command.out").write_text("step 1\nstep 2\n")
        same = await get(compute_client, team, path, file="stdout")
        asked = await get(compute_client, team, path, file="stdout", refresh="true")
        await reconciler.reconcile_once()
        after = await get(compute_client, team, path, file="stdout")

        assert (before.text, same.text) == ("step 1\n", "step 1\n")
        assert asked.status_code == 202
        assert (after.status_code, after.text) == (200, "step 1\nstep 2\n")


class TestBadRequests:
    async def test_bad_file_names_task_ids_and_ranges_are_422_problems(
        self, folders: Folders, session_factory: Any, compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:  # fmt: skip
        await add_task(session_factory, folders.run_id, 1, folders.task(1))
        path = f"{folders.run_id}/tasks"
        answers = [
            await get(compute_client, team, f"{path}/1/logs", file="../../etc/passwd"),
            await get(compute_client, team, f"{path}/1/logs", file="exitcode"),
            await get(compute_client, team, f"{path}/1/logs", offset=-1),
            await get(compute_client, team, f"{path}/1/logs", limit=0),
            await get(compute_client, team, f"{path}/1/logs", limit=2**21),
            await get(compute_client, team, f"{path}/-1/logs"),
            await get(compute_client, team, f"{path}/{2**63}/logs"),
            await get(compute_client, team, f"{path}/x"),
        ]

        for answer in answers:
            assert answer.status_code == 422, answer.text
            assert answer.headers["content-type"] == PROBLEM_JSON

    async def test_a_task_of_another_run_or_none_is_404(
        self, folders: Folders, session_factory: Any, compute_client: httpx.AsyncClient,
        team: Any, launch: Any,
    ) -> None:  # fmt: skip
        other = (await launch()).json()
        await add_task(session_factory, other["id"], 7, folders.work / "07")
        answers = [
            await get(compute_client, team, f"{folders.run_id}/tasks/7"),
            await get(compute_client, team, f"{folders.run_id}/tasks/7/logs"),
            await get(compute_client, team, f"{uuid.uuid4()}/tasks/7/logs"),
        ]

        for answer in answers:
            assert answer.status_code == 404, answer.text
            assert answer.headers["content-type"] == PROBLEM_JSON
        assert "has no task 7" in answers[0].json()["detail"]


class TestTaskDetail:
    async def test_the_task_shows_its_script_and_resources_asked_and_used(
        self, folders: Folders, session_factory: Any, compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:  # fmt: skip
        await add_task(
            session_factory, folders.run_id, 8, folders.work / "08", status="FAILED", exit=137,
            attempt=2, native_id="4242", script="\n    fastqc s8\n    ", cpus=2,
            memory=2 * 1024**3, time=3_600_000, queue="short", realtime=1500, peak_rss=1024**3,
            **{"%cpu": 150.0},
        )  # fmt: skip

        body = (await get(compute_client, team, f"{folders.run_id}/tasks/8")).json()

        assert (body["task_id"], body["status"], body["exit_status"]) == (8, "FAILED", 137)
        assert (body["attempt"], body["native_id"]) == (2, "4242")
        assert body["workdir"] == str(folders.work / "08")
        assert body["script"] == "\n    fastqc s8\n    "
        assert body["requested"] == {
            "cpus": 2, "memory": 2 * 1024**3, "time_ms": 3_600_000, "disk": None, "queue": "short",
        }  # fmt: skip
        assert body["used"]["peak_rss"] == 1024**3 and body["used"]["realtime_ms"] == 1500
        assert body["used"]["memory_percent"] == 50.0
        assert body["used"]["cpu_percent_of_requested"] == 75.0
        assert (body["files_state"], body["files"]) == ("none", [])


NEXTFLOW_MESSAGES = {
    137: (".command.sh: line 2:  4242 Killed                  fastqc S1",
          "killed (SIGKILL): often out of memory"),
    140: ("slurmstepd: error: *** JOB 4242 ON node1 CANCELLED DUE TO TIME LIMIT ***",
          "often a scheduler's time limit"),
    1: ("fastqc S1: error: cannot process the input (exit 1)",
        "a generic error"),
}  # fmt: skip


class TestFailedRun:
    @pytest.mark.parametrize("code", [137, 140, 1])
    async def test_a_failed_run_shows_its_failing_task_exit_meaning_and_stderr(
        self, code: int, hello: Any, launch: Any, set_run: Any, session_factory: Any,
        compute_settings: Settings, compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        launched = await launch(
            params={"fail_process": "FASTQC", "exit_code": code, "stderr_lines": 30}
        )
        assert launched.status_code == 201, launched.text
        run = launched.json()
        reconciler = worker(session_factory, compute_settings)
        assert await reconciler.dispatcher.dispatch_once() == 1
        async with asyncio.timeout(40):
            while True:
                await reconciler.reconcile_once()
                ended = (await get(compute_client, team, run["id"])).json()
                if ended["finished_at"]:
                    break
                await asyncio.sleep(0.1)
        # The work dir is cleaned up: the failed task's files were shipped before the end.
        shutil.rmtree(compute_settings.WORK_ROOT / "work" / run["id"])
        stderr = await get(compute_client, team, f"{run['id']}/tasks/1/logs", file="stderr")

        error = ended["error"]
        last_line, meaning = NEXTFLOW_MESSAGES[code]
        assert ended["state"] == "EXECUTOR_ERROR"
        assert (error["process"], error["task_id"]) == ("HELLO:FASTQC", 1)
        assert error["task_name"] == "HELLO:FASTQC (S1)"
        assert (error["exit_code"], error["exit_code_of"]) == (code, "task")
        assert meaning in error["exit_meaning"]
        assert error["message"] == "Nextflow exited with code 1; see the run's log."
        assert len(error["stderr_tail"]) == 20
        assert error["stderr_tail"][-1] == last_line
        assert error["stderr_tail"][-2] == "fastqc S1: stderr line 30 of 30"
        assert error["logs_url"] == f"/api/v1/runs/{run['id']}/tasks/1/logs?file=stderr"
        assert stderr.status_code == 200
        assert stderr.text.endswith(last_line + "\n")
        assert stderr.text.startswith("fastqc S1: reading input\n")

    async def test_the_stderr_tail_shows_whole_lines_of_a_long_stderr(
        self, folders: Folders, session_factory: Any, set_run: Any,
        compute_client: httpx.AsyncClient, team: Any,
    ) -> None:  # fmt: skip
        lines = [f"{n:03d} " + "x" * 496 for n in range(30)]  # 500 characters each
        workdir = folders.task(4)
        await add_task(session_factory, folders.run_id, 4, workdir, status="FAILED", exit=1)
        async with session_factory() as session, session.begin():
            text = "\n".join(lines) + "\n"
            await TaskFileRepository(session).store(
                uuid.UUID(folders.run_id), 4, {"stderr": (text, len(text), False)}
            )
        await set_run(folders.run_id, state="EXECUTOR_ERROR")

        error = (await get(compute_client, team, folders.run_id)).json()["error"]

        # 20 lines' worth of characters hold 15 whole lines; the one the cut fell in is left out.
        assert error["stderr_tail"] == lines[15:]

    async def test_nextflows_message_is_shown_and_a_run_without_a_failed_task_has_its_own_exit(
        self, hello: Any, launch: Any, set_run: Any, compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:  # fmt: skip
        run = (await launch()).json()
        await set_run(
            run["id"], state="EXECUTOR_ERROR", exit_code=1, finished_at=datetime.now(UTC),
            error_message="Input file does not exist: sheet.csv",
        )  # fmt: skip
        complete = (await launch()).json()

        failed = (await get(compute_client, team, run["id"])).json()
        fine = (await get(compute_client, team, complete["id"])).json()

        assert failed["error"] == {
            "message": "Input file does not exist: sheet.csv", "process": None, "task_id": None,
            "task_name": None, "attempt": None, "exit_code": 1, "exit_code_of": "nextflow",
            "exit_meaning": "a generic error: the command failed, its stderr says why",
            "work_dir": None, "stderr_tail": [], "logs_url": None,
        }  # fmt: skip
        assert fine["error"] is None
