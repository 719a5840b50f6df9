"""The services in-process on the test's savepoint database: admin (the plugin's), files and
compute, wired to each other by host name (RoutingTransport), and a project with one user of
each role. Imported by the conftests of tests/compute and tests/miner.

Runs that really launch the nextflow stand-in and post events over HTTP live in
tests/compute/live (a real stack of processes on a committed database).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.main import create_app
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler
from nfhub_files.config import Settings as FilesSettings
from nfhub_files.main import create_app as create_files_app
from nfhub_shared.testing.transport import RoutingTransport
from support.settings import settings_of

REPO = Path(__file__).resolve().parents[2]  # tests/support/ → the repository
FAKES = REPO / "tests" / "fakes"
HELLO_PIPELINE = FAKES / "pipelines" / "hello"
# The team's fixtures (../shared/fixtures beside the checkout; NFHUB_FIXTURES_DIR elsewhere):
# read from there, never copied into the repo.
FIXTURES = Path(os.environ.get("NFHUB_FIXTURES_DIR") or REPO.parent / "shared" / "fixtures")
COMPUTE_BASE_URL = "http://compute.test"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


def admin_settings_for(database_url: str, storage_root: Path) -> Any:
    from nfhub_admin.config import Settings as AdminSettings

    return settings_of(
        AdminSettings,
        DATABASE_URL=database_url,
        ENVIRONMENT="test",
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        per_test={"STORAGE_LOCAL_ROOT": storage_root},
    )


@pytest.fixture
def admin_settings(nfhub_database_url: str, storage_root: Path) -> Any:
    """The plugin's admin settings, with the storage the files service uses."""
    return admin_settings_for(nfhub_database_url, storage_root)


@asynccontextmanager
async def running_files_app(
    database_url: str,
    storage_root: Path,
    admin_transport: httpx.AsyncBaseTransport,
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    settings = settings_of(
        FilesSettings,
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        # In-process apps work in the test's rolled-back transaction: admin's access
        # announcements never commit, and the TTL tests need the caches left alone.
        ACCESS_CHANGE_LISTENER=False,
        ADMIN_URL="http://admin.test",
        FILES_URL="http://files.test",
        ARCHIVE_WORKER_ENABLED=False,
        per_test={"LOCAL_ROOT": storage_root},
    )
    app = create_files_app(settings, http_transport=admin_transport)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions
        app.state.events_connect = sessions
        app.state.reads_connect = sessions
        yield app


@pytest_asyncio.fixture
async def files_app(
    nfhub_database_url: str,
    storage_root: Path,
    admin_transport: httpx.ASGITransport,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    async with running_files_app(
        nfhub_database_url, storage_root, admin_transport, session_factory
    ) as app:
        yield app


@pytest.fixture(autouse=True)
def fake_nextflow_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """`nextflow` is the stand-in (tests/fakes/nextflow), found on PATH as the real one would be."""
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}{os.environ['PATH']}")


def compute_settings_for(database_url: str, work_root: Path) -> Settings:
    return settings_of(
        Settings,
        ENVIRONMENT="test",
        DATABASE_URL=database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        # In-process apps work in the test's rolled-back transaction: admin's access
        # announcements never commit, and the TTL tests need the caches left alone.
        ACCESS_CHANGE_LISTENER=False,
        ADMIN_URL="http://admin.test",
        FILES_URL="http://files.test",
        COMPUTE_URL=COMPUTE_BASE_URL,
        per_test={"WORK_ROOT": work_root},
        PIPELINE_ROOTS=[FAKES / "pipelines", REPO / "pipelines"],
        # Tests register git URLs that nothing serves; tests/compute/pipelines checks sources.
        PIPELINE_SOURCE_CHECK=False,
    )


@pytest.fixture
def compute_settings(nfhub_database_url: str, tmp_path: Path) -> Settings:
    return compute_settings_for(nfhub_database_url, tmp_path / "compute")


@asynccontextmanager
async def running_compute_app(
    settings: Settings,
    admin_transport: httpx.AsyncBaseTransport,
    files_app: FastAPI,
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    transport = RoutingTransport(
        {"admin.test": admin_transport, "files.test": httpx.ASGITransport(app=files_app)}
    )
    app = create_app(settings, http_transport=transport)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessions
        app.state.events_connect = sessions
        app.state.reads_connect = sessions
        yield app


@pytest_asyncio.fixture
async def compute_app(
    compute_settings: Settings,
    admin_transport: httpx.ASGITransport,
    files_app: FastAPI,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    async with running_compute_app(
        compute_settings, admin_transport, files_app, session_factory
    ) as app:
        yield app


@pytest_asyncio.fixture
async def compute_client(compute_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=compute_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=COMPUTE_BASE_URL) as client:
        yield client


@dataclass(frozen=True)
class Team:
    """A project with one user of each role, and the storage folder of the project."""

    project_id: uuid.UUID
    org_id: uuid.UUID
    admin: Any
    editor: Any
    viewer: Any
    storage: Path

    def headers(self, role: str) -> dict[str, str]:
        actor = getattr(self, role)
        return dict(actor.in_project(self.project_id))

    def put(self, path: str, data: bytes) -> None:
        """A file in the project's storage, as if uploaded."""
        target = self.storage / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


@pytest_asyncio.fixture
async def team(factory: Any, storage_root: Path) -> Team:
    owner, admin, editor, viewer = await factory.users(4)
    org_id = await factory.org(owner)
    project_id = await factory.project(
        org_id, members={admin: "admin", editor: "editor", viewer: "viewer"}
    )
    return Team(
        project_id, org_id, admin, editor, viewer, storage_root / "projects" / str(project_id)
    )


SAMPLESHEET = b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"


Launch = Callable[..., Awaitable[httpx.Response]]
Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register_pipeline(compute_client: httpx.AsyncClient, team: Team) -> Register:
    """Register the test pipeline (tests/fakes/pipelines/hello), schemas read from its folder."""

    async def register(slug: str = "hello", version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
        response = await compute_client.post(
            "/api/v1/pipelines",
            json={
                "slug": slug,
                "name": "Hello (test)",
                "version": {"version": version, "source": {"path": str(HELLO_PIPELINE)}, **extra},
            },
            headers=team.headers("admin"),
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return register


@pytest_asyncio.fixture
async def hello(register_pipeline: Register, team: Team) -> dict[str, Any]:
    team.put("sheets/hello.csv", SAMPLESHEET)
    return await register_pipeline()


@pytest.fixture
def launch(compute_client: httpx.AsyncClient, team: Team) -> Launch:
    """POST /runs of the hello pipeline on sheets/hello.csv; keyword arguments change the body."""

    async def post(role: str = "editor", **overrides: Any) -> httpx.Response:
        body = {"pipeline": "hello", "input": {"path": "sheets/hello.csv"}, **overrides}
        return await compute_client.post("/api/v1/runs", json=body, headers=team.headers(role))

    return post


SetRun = Callable[..., Awaitable[None]]


@pytest.fixture
def set_run(session_factory: async_sessionmaker[AsyncSession]) -> SetRun:
    """Put a run in a given state directly (as the worker would have), for API tests."""
    from sqlalchemy import update

    from nfhub_compute.models import Run

    async def apply(run_id: str | uuid.UUID, **values: Any) -> None:
        async with session_factory() as session, session.begin():
            await session.execute(
                update(Run).where(Run.id == uuid.UUID(str(run_id))).values(**values)
            )

    return apply


@pytest.fixture
def reconciler(
    session_factory: async_sessionmaker[AsyncSession], compute_settings: Settings
) -> Reconciler:
    """The worker's reconciler on the local backend, in the test's transaction:
    ``reconcile_once()`` is a leader's pass."""
    backend = LocalBackend(compute_settings.WORK_ROOT)
    dispatcher = Dispatcher(session_factory, backend, compute_settings, "test")
    return Reconciler(session_factory, backend, compute_settings, dispatcher)
