"""Baseline apps for the benchmarks, started by uvicorn as factories.

``bare_app``: plain FastAPI returning the JSON (and a PUT that reads its body, keeps
nothing). ``guarded_app``: the same endpoint in an nfhub
service (the shared app factory's full middleware stack, rate limit, JWT verified against
admin's JWKS, project role from the 60 s cache); bench/auth.py compares the two.
``transfer_floor_app``: the least a Python service on uvicorn does to move a file
(bench/files.py).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from nfhub_shared.app import create_app
from nfhub_shared.auth.dependencies import ProjectViewer
from nfhub_shared.config import BaseServiceSettings

PROJECT_ID = os.environ.get("BENCH_PROJECT_ID", "00000000-0000-0000-0000-000000000000")


def bare_app() -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/whoami")
    async def whoami() -> dict[str, Any]:
        return {"project_id": PROJECT_ID, "role": "admin"}

    @app.put("/api/v1/sink")
    async def sink(request: Request) -> dict[str, Any]:
        """Takes a body and keeps nothing: what moving a request costs (bench/compute.py)."""
        return {"bytes": len(await request.body())}

    return app


def guarded_app() -> FastAPI:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(access: ProjectViewer) -> dict[str, Any]:
        return {"project_id": str(access.project_id), "role": access.role.value}

    @router.get("/anonymous")
    async def anonymous() -> dict[str, Any]:
        # Same stack (request id, access log, metrics, rate limit), no authentication: the
        # difference to /whoami is what authentication itself costs.
        return {"project_id": PROJECT_ID, "role": "admin"}

    settings = BaseServiceSettings(SERVICE_NAME="bench", LOG_LEVEL="WARNING")
    return create_app(settings, title="bench", description="auth benchmark", routers=[router])


Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
FLOOR_READ = 1024 * 1024


def transfer_floor_app() -> Callable[[Message, Receive, Send], Awaitable[None]]:
    """A raw ASGI app under BENCH_FLOOR_ROOT: PUT writes the body to a file as it comes
    (inline, no worker thread, no checks), flushes it and renames it into place; GET sends a
    file in 1 MiB reads. No framework, no auth, no signature: what is left is uvicorn's
    HTTP and the bytes' copies in and out of Python, the floor of the stack nfhub runs on."""
    root = Path(os.environ["BENCH_FLOOR_ROOT"])
    root.mkdir(parents=True, exist_ok=True)

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        path = root / scope["path"].strip("/").replace("/", "_")
        if scope["method"] == "PUT":
            temporary = path.with_name(path.name + ".part")
            with temporary.open("wb") as handle:  # a body chunk bigger than its buffer
                more = True  # goes straight to the file
                while more:
                    message = await receive()
                    handle.write(message.get("body", b""))
                    more = message.get("more_body", False)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        if not path.is_file():  # /healthz, for the stack's readiness wait
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        size = path.stat().st_size
        headers = [(b"content-length", str(size).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        with path.open("rb", buffering=0) as handle:
            while chunk := handle.read(FLOOR_READ):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def webhook_sink_app() -> Callable[[Message, Receive, Send], Awaitable[None]]:
    """A webhook receiver that does nothing but read the body and answer 204 (bench/webhooks.py):
    what is measured is the sender."""

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        status = 200 if scope["path"] == "/healthz" else 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app
