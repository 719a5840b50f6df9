"""The files service in-process, asking the in-process admin who callers are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_files.config import Settings
from nfhub_files.main import create_app

FILES_BASE_URL = "http://files.test"


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def files_settings(nfhub_database_url: str, storage_root: Path) -> Settings:
    return Settings(
        _env_file=None,
        ENVIRONMENT="test",
        DATABASE_URL=nfhub_database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        ADMIN_URL="http://admin.test",
        STORAGE_BACKEND="local",
        LOCAL_ROOT=storage_root,
        FILES_URL=FILES_BASE_URL,
    )


@pytest_asyncio.fixture
async def files_app(
    files_settings: Settings,
    admin_transport: httpx.ASGITransport,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[FastAPI]:
    app = create_app(files_settings, http_transport=admin_transport)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = session_factory
        yield app


@pytest_asyncio.fixture
async def files_client(files_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Talks to the files API and, like a user's script, to the signed blob URLs it returns."""
    transport = httpx.ASGITransport(app=files_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=FILES_BASE_URL) as client:
        yield client


@pytest_asyncio.fixture
async def project(factory: Any) -> tuple[Any, Any]:
    """An editor and a viewer in one project: (editor, viewer, project_id)."""
    owner = await factory.user()
    editor = await factory.user()
    viewer = await factory.user()
    org = await factory.org(owner)
    project_id = await factory.project(org, members={editor: "editor", viewer: "viewer"})
    return editor, viewer, project_id
