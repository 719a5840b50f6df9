"""compute served by a real uvicorn (in the test's event loop) on a committed database of its
own, with admin in-process beside it: the streams need commits (NOTIFY is sent at commit, and
the feed is read below the oldest running transaction, which a test's own rolled-back
transaction would hold back for its whole length)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio
import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.config import Settings as AdminSettings
from nfhub_admin.main import create_app as create_admin_app
from nfhub_compute.config import Settings
from nfhub_compute.main import create_app
from nfhub_compute.models import Run
from nfhub_shared.testing.transport import RoutingTransport
from support.factory import Actor, Factory
from support.ports import free_port

# How long a run's stream goes on after the run's final state (the tests' log lines written
# just after it must fit; each stream of a freshly ended run waits it out).
END_GRACE = 0.5


@dataclass
class StreamStack:
    base_url: str
    app: FastAPI
    sessions: async_sessionmaker[AsyncSession]
    project_id: uuid.UUID
    org_id: uuid.UUID
    other_project_id: uuid.UUID
    viewer: Actor
    outsider: Actor
    # Another compute app on the same database and admin (not started).
    make_app: Callable[[], FastAPI]

    def headers(
        self, actor: Actor | None = None, project_id: uuid.UUID | None = None
    ) -> dict[str, str]:
        actor = actor or self.viewer
        return dict(actor.in_project(project_id or self.project_id))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(20.0))

    async def new_run(
        self, project_id: uuid.UUID | None = None, state: str = "QUEUED"
    ) -> uuid.UUID:
        async with self.sessions() as session, session.begin():
            run = Run(
                project_id=project_id or self.project_id,
                org_id=self.org_id,
                pipeline_slug="hello",
                pipeline_version="1.0.0",
                name="stream test",
                nextflow_name=f"stream-{secrets.token_hex(6)}",
                state=state,
                storage_uri="file:///tmp/none",
                outdir_uri="file:///tmp/none/out",
                backend="noop",
                created_by="test",
                params={},
                profiles=[],
                labels=[],
                workflow={},
            )
            session.add(run)
            await session.flush()
            return run.id


@pytest_asyncio.fixture(scope="module")
async def stream_stack(nfhub_fresh_database: Any) -> AsyncIterator[StreamStack]:
    with nfhub_fresh_database() as url:
        admin_settings = AdminSettings(
            DATABASE_URL=url, ENVIRONMENT="test", DATABASE_POOL_SIZE=2, DATABASE_MAX_OVERFLOW=0,
            _env_file=None,
        )  # fmt: skip
        admin_app = create_admin_app(admin_settings)
        async with admin_app.router.lifespan_context(admin_app):
            factory = Factory(admin_app.state.sessionmaker, admin_app)
            owner, viewer, outsider = (
                await factory.user(),
                await factory.user(),
                await factory.user(),
            )
            org_id = await factory.org(owner)
            project_id = await factory.project(org_id, members={viewer: "viewer"})
            other_project_id = await factory.project(org_id, members={outsider: "viewer"})
            settings = Settings(
                _env_file=None,
                ENVIRONMENT="test",
                DATABASE_URL=url,
                DATABASE_POOL_SIZE=4,
                DATABASE_MAX_OVERFLOW=0,
                ACCESS_CHANGE_LISTENER=False,
                ADMIN_URL="http://admin.test",
                FILES_URL="http://files.test",
                BACKEND="noop",
                STREAM_HEARTBEAT_SECONDS=0.3,
                STREAM_BUFFER_EVENTS=10,
                STREAM_END_GRACE_SECONDS=END_GRACE,
            )
            transport = RoutingTransport({"admin.test": httpx.ASGITransport(app=admin_app)})
            app = create_app(settings, http_transport=transport)
            async with app.router.lifespan_context(app):
                port = free_port()
                server = uvicorn.Server(
                    uvicorn.Config(
                        app, host="127.0.0.1", port=port, lifespan="off", log_config=None
                    )
                )
                task = asyncio.create_task(server.serve())
                while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                    await asyncio.sleep(0.01)
                try:
                    yield StreamStack(
                        f"http://127.0.0.1:{port}", app, app.state.sessionmaker, project_id,
                        org_id, other_project_id, viewer, outsider,
                        lambda: create_app(settings, http_transport=transport),
                    )  # fmt: skip
                finally:
                    server.should_exit = True
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.wait_for(task, 10)
