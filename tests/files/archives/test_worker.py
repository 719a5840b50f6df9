"""The archive worker: claims, crash recovery, shutdown, and the loop the lifespan starts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from nfhub_files.archives.repository import ArchiveRepository
from nfhub_files.archives.worker import (
    STALE_AFTER,
    STALE_ERROR,
    build_next_archive,
    fail_stale_archives,
)
from nfhub_files.config import Settings
from nfhub_files.main import create_app
from nfhub_files.models import Archive

ARCHIVES = "/api/v1/files/archives"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def queued_archive(project_id: uuid.UUID, paths: list[str], **values: Any) -> Archive:
    return Archive(
        **{
            "project_id": project_id,
            "name": "a",
            "paths": paths,
            "status": "queued",
            "created_by": "test",
            **values,
        }
    )


@pytest.fixture
async def cleanup(nfhub_engine: AsyncEngine) -> AsyncIterator[list[uuid.UUID]]:
    """Project ids whose committed archives are deleted after the test."""
    project_ids: list[uuid.UUID] = []
    yield project_ids
    async with nfhub_engine.begin() as connection:
        await connection.execute(delete(Archive).where(Archive.project_id.in_(project_ids)))


class TestClaim:
    async def test_two_workers_never_claim_the_same_archive(
        self, nfhub_engine: AsyncEngine, cleanup: list[uuid.UUID]
    ) -> None:
        project_id = uuid.uuid4()
        cleanup.append(project_id)
        async with AsyncSession(nfhub_engine, expire_on_commit=False) as session, session.begin():
            older = queued_archive(project_id, ["a"], created_at=LONG_AGO)
            newer = queued_archive(project_id, ["b"], created_at=LONG_AGO + timedelta(seconds=1))
            session.add_all([older, newer])
        now = datetime.now(UTC)

        # Three replicas claim at the same time, each in its own transaction.
        async with (
            AsyncSession(nfhub_engine, expire_on_commit=False) as first,
            AsyncSession(nfhub_engine, expire_on_commit=False) as second,
            AsyncSession(nfhub_engine, expire_on_commit=False) as third,
        ):
            claimed = [
                await ArchiveRepository(session).claim_next(now)
                for session in (first, second, third)
            ]
            ids = [archive.id if archive else None for archive in claimed]
            await first.commit()
            await second.rollback()  # a replica that died: its claim never happened

        assert ids == [older.id, newer.id, None]
        async with AsyncSession(nfhub_engine, expire_on_commit=False) as session:
            statuses = dict(
                (
                    await session.execute(
                        select(Archive.id, Archive.status).where(Archive.project_id == project_id)
                    )
                ).all()
            )
        assert statuses == {older.id: "running", newer.id: "queued"}


class TestStaleBuilds:
    async def test_running_archive_without_heartbeat_is_failed(
        self, files_app: FastAPI, db_session: AsyncSession
    ) -> None:
        project_id = uuid.uuid4()
        stale_time = datetime.now(UTC) - STALE_AFTER - timedelta(seconds=1)
        stale = queued_archive(project_id, ["a"], status="running", updated_at=stale_time)
        alive = queued_archive(project_id, ["b"], status="running")
        queued = queued_archive(project_id, ["c"], updated_at=stale_time)
        db_session.add_all([stale, alive, queued])
        await db_session.commit()

        assert await fail_stale_archives(files_app) == [stale.id]

        rows = (
            await db_session.scalars(
                select(Archive)
                .where(Archive.project_id == project_id)
                .execution_options(populate_existing=True)
            )
        ).all()
        by_id = {row.id: row for row in rows}
        assert (by_id[stale.id].status, by_id[stale.id].error) == ("failed", STALE_ERROR)
        assert by_id[stale.id].finished_at is not None
        assert by_id[alive.id].status == "running"
        assert by_id[queued.id].status == "queued"


class TestShutdown:
    async def test_interrupted_build_goes_back_to_the_queue(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project
        await files_client.post(
            "/api/v1/files/folders", json={"path": "raw"}, headers=editor.in_project(project_id)
        )
        ticket = await files_client.post(
            "/api/v1/files/upload-url",
            json={"path": "raw/a.txt"},
            headers=editor.in_project(project_id),
        )
        await files_client.put(ticket.json()["url"], content=b"hello")
        queued = await files_client.post(
            ARCHIVES, json={"paths": ["raw/"], "name": "a"}, headers=editor.in_project(project_id)
        )
        url = f"{ARCHIVES}/{queued.json()['id']}"
        reading = anyio.Event()

        async def stuck_read(key: str) -> AsyncIterator[bytes]:
            reading.set()
            await anyio.sleep_forever()
            yield b""

        monkeypatch.setattr(files_app.state.storage, "read", stuck_read)

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(build_next_archive, files_app)
            await reading.wait()
            running = await files_client.get(url, headers=editor.in_project(project_id))
            assert running.json()["status"] == "running"
            tasks.cancel_scope.cancel()

        requeued = await files_client.get(url, headers=editor.in_project(project_id))
        assert (requeued.json()["status"], requeued.json()["started_at"]) == ("queued", None)
        monkeypatch.undo()
        await build_next_archive(files_app)
        built = await files_client.get(url, headers=editor.in_project(project_id))
        assert built.json()["status"] == "ready"


class TestWorkerLoop:
    async def test_lifespan_worker_builds_queued_archives(
        self,
        files_settings: Settings,
        nfhub_engine: AsyncEngine,
        storage_root: Path,
        cleanup: list[uuid.UUID],
    ) -> None:
        project_id = uuid.uuid4()
        cleanup.append(project_id)
        source = storage_root / f"projects/{project_id}/results/out.txt"
        source.parent.mkdir(parents=True)
        source.write_bytes(b"result")
        archive = queued_archive(project_id, ["results/"])
        async with AsyncSession(nfhub_engine, expire_on_commit=False) as session, session.begin():
            session.add(archive)
        settings = files_settings.model_copy(
            update={"ARCHIVE_WORKER_ENABLED": True, "ARCHIVE_POLL_SECONDS": 0.02}
        )
        app = create_app(settings)

        async with app.router.lifespan_context(app):
            for _ in range(500):  # the worker polls every 0.02 s; give it up to 10 s
                if await self._status(nfhub_engine, archive.id) not in ("queued", "running"):
                    break
                await anyio.sleep(0.02)

        assert await self._status(nfhub_engine, archive.id) == "ready"
        assert (storage_root / f"archives/{project_id}/{archive.id}.zip").is_file()

    @staticmethod
    async def _status(engine: AsyncEngine, archive_id: uuid.UUID) -> str | None:
        async with AsyncSession(engine) as session:
            return await session.scalar(select(Archive.status).where(Archive.id == archive_id))
