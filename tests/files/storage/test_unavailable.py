"""Storage down or misconfigured: a prompt 503 problem on every route that needs it, and
/readyz says so; never a 500, never a hang, never an empty listing as if nothing were there."""

from __future__ import annotations

import asyncio
import errno
import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nfhub_files.config import Settings
from nfhub_files.storage.local import objects, writer
from nfhub_files.storage.signing import BlobGrant
from nfhub_shared import health as shared_health

PROBLEM_JSON = "application/problem+json"
# Archives that are queued live in the database only: these answer without the storage.
WITHOUT_STORAGE = frozenset(
    {
        "list_archives",
        "get_archive",
    }
)
# A healthy local disk answers in milliseconds; a 503 must come as fast.
PROMPT_SECONDS = 5


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    """Under a folder of its own, so a test can turn that folder into a file."""
    root = tmp_path / "holder" / "storage"
    root.mkdir(parents=True)
    return root


def break_storage(root: Path, how: str) -> None:
    broken = root if how == "root became a file" else root.parent
    shutil.rmtree(broken)
    broken.write_bytes(b"not a directory\n")


def blob_requests(app: FastAPI, project_id: uuid.UUID) -> dict[str, tuple[str, str]]:
    signer = app.state.storage.signer
    key = f"projects/{project_id}/inbox/data.txt"
    later = int(time.time()) + 600
    return {
        "GET blob": ("GET", signer.url(BlobGrant("GET", key, later, None, None, None, None, None))),
        "PUT blob": ("PUT", signer.url(BlobGrant("PUT", key, later, 10, None, None, None, None))),
    }


class TestStorageGoesAway:
    @pytest.mark.parametrize("how", ["root became a file", "root's folder became a file"])
    async def test_every_route_is_a_prompt_503(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
        how: str,
    ) -> None:
        editor, _, project_id = project
        headers = editor.in_project(project_id)
        routes = [await route.bind(files_client, headers) for route in file_routes.values()]
        break_storage(disk.root, how)
        outcomes = {}

        async with asyncio.timeout(PROMPT_SECONDS):
            for route in routes:
                response = await route.send(files_client, headers)
                outcomes[route.name] = (response.status_code, response.headers["content-type"])
            for name, (method, url) in blob_requests(files_app, project_id).items():
                response = await files_client.request(method, url, content=b"0123456789")
                outcomes[name] = (response.status_code, response.headers["content-type"])

        expected = {
            route.name: (200, "application/json")
            if route.operation_id in WITHOUT_STORAGE
            else (503, PROBLEM_JSON)
            for route in routes
        }
        assert outcomes == expected | {
            "GET blob": (503, PROBLEM_JSON),
            "PUT blob": (503, PROBLEM_JSON),
        }

    async def test_readyz_reports_it(self, files_client: httpx.AsyncClient, disk: Any) -> None:
        healthy = await files_client.get("/readyz")
        break_storage(disk.root, "root became a file")

        broken = await files_client.get("/readyz")

        assert healthy.status_code == 200
        assert healthy.json() == {"status": "ready", "database": "ok", "storage": "ok"}
        assert broken.status_code == 503
        assert broken.headers["content-type"] == PROBLEM_JSON
        assert "storage" in broken.json()["detail"]


class TestMisconfiguredRoot:
    """FILES_LOCAL_ROOT names something that cannot be a directory from the start."""

    @pytest.fixture(params=["a file", "under a file"])
    def files_settings(
        self, files_settings: Settings, tmp_path: Path, request: pytest.FixtureRequest
    ) -> Settings:
        blocker = tmp_path / "blocker"
        blocker.write_bytes(b"a file\n")
        root = blocker if request.param == "a file" else blocker / "storage"
        return files_settings.model_copy(update={"LOCAL_ROOT": root})

    async def test_the_service_starts_and_answers_503(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        file_routes: dict[str, Any],
    ) -> None:
        editor, _, project_id = project
        outcomes = {}

        async with asyncio.timeout(PROMPT_SECONDS):
            ready = await files_client.get("/readyz")
            for route in file_routes.values():
                if route.prepare is not None or route.operation_id in WITHOUT_STORAGE:
                    continue
                response = await route.send(files_client, editor.in_project(project_id))
                outcomes[route.name] = (response.status_code, response.headers["content-type"])

        assert ready.status_code == 503
        assert "storage" in ready.json()["detail"]
        assert outcomes == dict.fromkeys(outcomes, (503, PROBLEM_JSON))
        assert (
            "FILES_LOCAL_ROOT"
            in (
                await files_client.get("/api/v1/files", headers=editor.in_project(project_id))
            ).json()["detail"]
        )


class TestDiskErrors:
    """The disk fails mid-operation (full, read-only, I/O error): 503, and nothing half-done."""

    async def test_a_full_disk_during_an_upload_is_a_503_and_keeps_the_old_version(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project
        ticket = await files_client.post(
            "/api/v1/files/upload-url",
            json={"path": "inbox/data.txt"},
            headers=editor.in_project(project_id),
        )

        def disk_full(*args: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(writer, "write_and_hash", disk_full)
        response = await files_client.put(ticket.json()["url"], content=b"a new version")

        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.headers["retry-after"] == "5"
        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"
        assert disk.temp_files() == []

    async def test_a_read_only_disk_during_a_copy_is_a_503(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project

        def read_only(*args: Any, **kwargs: Any) -> None:
            raise OSError(errno.EROFS, "Read-only file system")

        monkeypatch.setattr(objects.shutil, "copy2", read_only)
        response = await files_client.post(
            "/api/v1/files/copy",
            json={"src": "inbox/data.txt", "dst": "inbox/copy.txt"},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert not (disk.project_dir / "inbox" / "copy.txt").exists()
        assert disk.temp_files() == []


class TestHungStorage:
    async def test_readyz_gives_up_after_its_timeout(
        self, files_client: httpx.AsyncClient, disk: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A mount that stops answering (a dead NFS server) leaves /readyz a 503, not a hang."""
        real_access = objects.os.access
        answer = threading.Event()

        def hung(path: Any, mode: int) -> bool:
            # Hangs until the test has its answer: far past the timeout, however slow the
            # machine, and the stuck thread does not outlive the test.
            answer.wait(timeout=30)
            return real_access(path, mode)

        monkeypatch.setattr(shared_health, "READINESS_TIMEOUT_SECONDS", 0.2)
        monkeypatch.setattr(objects.os, "access", hung)
        started = time.monotonic()

        try:
            response = await files_client.get("/readyz")
        finally:
            answer.set()

        assert time.monotonic() - started < 1.0
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "storage did not answer" in response.json()["detail"]
