"""``nfhub runs watch`` (nfhub_cli.watch) against the real stream, and against a server
without it (the same app with the stream routes taken out: an older compute)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
import uvicorn
from rich.console import Console

from nfhub_cli.api import Api
from nfhub_cli.config import Config
from nfhub_cli.watch import watch_run
from nfhub_compute.events.parsing import task_values
from nfhub_compute.runs.states import RunState
from nfhub_compute.tasks.repository import TaskFileRepository, TaskRepository
from support.ports import free_port

from .conftest import StreamStack
from .test_stream import hub_listening, move, tasks

pytestmark = pytest.mark.xdist_group("compute-stream")


def api_for(stack: StreamStack, base_url: str) -> Api:
    token = stack.headers()["Authorization"].removeprefix("Bearer ")
    return Api(Config(urls={"compute": base_url}, token=token, project_id=str(stack.project_id)))


async def watch(stack: StreamStack, base_url: str, run_id: uuid.UUID) -> tuple[int, str]:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with api_for(stack, base_url) as api:
        code = await asyncio.to_thread(
            watch_run, api, str(run_id), 0.2, console=console, timeout=20
        )
    return code, out.getvalue()


@pytest_asyncio.fixture(scope="module")
async def older_server(stream_stack: StreamStack) -> AsyncIterator[str]:
    """The same compute without its stream routes, on a port of its own."""
    older = stream_stack.make_app()
    older.router.routes[:] = [
        route for route in older.router.routes if not getattr(route, "path", "").endswith("/stream")
    ]
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(older, host="127.0.0.1", port=port, lifespan="on", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def failed_task(stack: StreamStack, run_id: uuid.UUID) -> None:
    """Task 3 failed (137), its stderr shipped, as the worker leaves them."""
    async with stack.sessions() as session, session.begin():
        row = task_values({"task_id": 3, "status": "FAILED", "process": "HELLO",
                           "name": "HELLO (3)", "exit": 137, "attempt": 2})  # fmt: skip
        assert row is not None
        await TaskRepository(session).upsert(run_id, [row])
        await TaskFileRepository(session).store(
            run_id, 3, {"stderr": ("reading [input]\nKilled\n", 23, False)}
        )


async def a_run_to(stack: StreamStack, run_id: uuid.UUID, end: RunState) -> None:
    await move(stack, run_id, RunState.INITIALIZING)
    await move(stack, run_id, RunState.RUNNING)
    await tasks(stack, run_id, "SUBMITTED", 1, 2)
    await tasks(stack, run_id, "COMPLETED", 1, 2)
    await move(stack, run_id, end)


class TestWatch:
    async def test_follows_the_stream_to_the_end(self, stream_stack: StreamStack) -> None:
        run_id = await stream_stack.new_run()
        watching = asyncio.create_task(watch(stream_stack, stream_stack.base_url, run_id))
        await hub_listening(stream_stack)
        hub = stream_stack.app.state.stream_hub
        while run_id not in hub.by_run:  # noqa: ASYNC110 - the watcher has subscribed
            await asyncio.sleep(0.01)
        await a_run_to(stream_stack, run_id, RunState.COMPLETE)
        code, output = await watching
        assert code == 0, output
        assert "COMPLETE  tasks 2/2 done" in output
        assert "no event stream" not in output  # it followed the stream (it subscribed)

    async def test_a_failed_run_exits_1_and_shows_why(self, stream_stack: StreamStack) -> None:
        run_id = await stream_stack.new_run()
        watching = asyncio.create_task(watch(stream_stack, stream_stack.base_url, run_id))
        hub = stream_stack.app.state.stream_hub
        while run_id not in hub.by_run:  # noqa: ASYNC110 - the watcher has subscribed
            await asyncio.sleep(0.01)
        await failed_task(stream_stack, run_id)
        await a_run_to(stream_stack, run_id, RunState.EXECUTOR_ERROR)
        code, output = await watching
        assert code == 1 and "EXECUTOR_ERROR" in output
        assert "failed task: HELLO (3) (task 3, attempt 2)" in output
        assert "exit status 137: killed (SIGKILL): often out of memory" in output
        assert "last lines of its stderr:\n    reading [input]\n    Killed\n" in output
        assert f"GET /api/v1/runs/{run_id}/tasks/3/logs?file=stderr" in output

    async def test_an_older_server_is_polled(
        self, stream_stack: StreamStack, older_server: str
    ) -> None:
        run_id = await stream_stack.new_run()
        watching = asyncio.create_task(watch(stream_stack, older_server, run_id))
        await asyncio.sleep(0.3)  # it has found out and polls (every 0.2 s)
        await a_run_to(stream_stack, run_id, RunState.COMPLETE)
        code, output = await watching
        assert code == 0, output
        assert "no event stream (HTTP 404)" in output and "COMPLETE" in output
