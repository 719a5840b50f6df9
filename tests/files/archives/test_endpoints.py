from __future__ import annotations

import io
import os
import uuid
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_files.archives.worker import build_next_archive
from nfhub_files.models import audit_events

ARCHIVES = "/api/v1/files/archives"

TREE = {
    "raw/S1_R1.fastq": b"@read1\nACGTACGT\n+\nIIIIIIII\n" * 8000,
    "raw/empty.txt": b"",
    "raw/sub/S2.bam": os.urandom(5 * 1024 * 1024 + 123),  # more than one copy chunk
    "raw/sub/deep/notes.txt": "ünïcode notes\n".encode(),
    "results/report.html": b"<html>report</html>",
    "results/other.csv": b"not asked for",
}


async def request_archive(
    client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID, paths: list[str], name: str
) -> httpx.Response:
    return await client.post(
        ARCHIVES, json={"paths": paths, "name": name}, headers=actor.in_project(project_id)
    )


async def get_archive(
    client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID, archive_id: str
) -> dict[str, Any]:
    response = await client.get(f"{ARCHIVES}/{archive_id}", headers=actor.in_project(project_id))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
async def tree(upload: Any) -> dict[str, bytes]:
    for path, data in TREE.items():
        await upload(path, data)
    return TREE


class TestCreateArchive:
    async def test_queues_the_archive(
        self, files_client: httpx.AsyncClient, project: Any, tree: dict[str, bytes]
    ) -> None:
        editor, _, project_id = project

        response = await request_archive(
            files_client, editor, project_id, ["raw", "results/report.html"], "run 42"
        )

        assert response.status_code == 202, response.text
        archive = response.json()
        assert archive["status"] == "queued"
        assert archive["name"] == "run 42"
        assert archive["paths"] == ["raw/", "results/report.html"]
        assert archive["download_url"] is None
        assert response.headers["Location"].endswith(f"{ARCHIVES}/{archive['id']}")

    async def test_paths_inside_a_selected_folder_are_dropped(
        self, files_client: httpx.AsyncClient, project: Any, tree: dict[str, bytes]
    ) -> None:
        editor, _, project_id = project

        response = await request_archive(
            files_client,
            editor,
            project_id,
            ["raw/sub/S2.bam", "raw/", "raw/sub", "results/report.html", "results/report.html"],
            "x",
        )

        assert response.json()["paths"] == ["raw/", "results/report.html"]

    async def test_viewers_may_ask_for_archives(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        tree: dict[str, bytes],
        db_session: AsyncSession,
    ) -> None:
        # A viewer can download each file one by one; a zip of them gives nothing more.
        _, viewer, project_id = project

        response = await request_archive(files_client, viewer, project_id, ["raw/"], "raw")

        assert response.status_code == 202, response.text
        actions = (
            await db_session.scalars(
                select(audit_events.c.actor_id).where(audit_events.c.action == "archive.create")
            )
        ).all()
        assert actions == [str(viewer.id)]

    async def test_missing_path_is_404_naming_it(
        self, files_client: httpx.AsyncClient, project: Any, tree: dict[str, bytes]
    ) -> None:
        editor, _, project_id = project

        response = await request_archive(
            files_client, editor, project_id, ["raw/", "results/missing.csv"], "x"
        )

        assert response.status_code == 404, response.text
        assert "results/missing.csv" in response.json()["detail"]

    @pytest.mark.parametrize("path", ["../other", "/etc/passwd", "raw/%2e%2e/x", "a\\b", "a\x00"])
    async def test_path_escape_is_400(
        self, files_client: httpx.AsyncClient, project: Any, path: str
    ) -> None:
        editor, _, project_id = project

        response = await request_archive(files_client, editor, project_id, [path], "x")

        assert response.status_code == 400, response.text

    @pytest.mark.parametrize("name", ["", "a/b", "a\\b", "bad\nname", "x" * 256])
    async def test_bad_name_is_422(
        self, files_client: httpx.AsyncClient, project: Any, tree: dict[str, bytes], name: str
    ) -> None:
        editor, _, project_id = project

        response = await request_archive(files_client, editor, project_id, ["raw/"], name)

        assert response.status_code == 422, response.text

    async def test_no_paths_is_422(self, files_client: httpx.AsyncClient, project: Any) -> None:
        editor, _, project_id = project

        response = await request_archive(files_client, editor, project_id, [], "x")

        assert response.status_code == 422, response.text

    async def test_token_without_files_read_is_403(
        self, files_client: httpx.AsyncClient, factory: Any
    ) -> None:
        owner = await factory.user()
        writer = await factory.user(scopes=frozenset({"files:write"}))
        project_id = await factory.project(await factory.org(owner), members={writer: "editor"})

        response = await request_archive(files_client, writer, project_id, [""], "all")

        assert response.status_code == 403, response.text


class TestBuildArchive:
    async def test_folder_tree_and_file_unzip_to_identical_bytes(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
        storage_root: Path,
    ) -> None:
        editor, viewer, project_id = project
        queued = await request_archive(
            files_client, viewer, project_id, ["raw/", "results/report.html"], "run 42"
        )
        archive_id = queued.json()["id"]

        assert str(await build_next_archive(files_app)) == archive_id

        archive = await get_archive(files_client, viewer, project_id, archive_id)
        expected = {path: data for path, data in tree.items() if path != "results/other.csv"}
        assert archive["status"] == "ready", archive["error"]
        assert archive["file_count"] == len(expected)
        assert archive["error"] is None
        assert datetime.fromisoformat(archive["finished_at"]) >= datetime.fromisoformat(
            archive["started_at"]
        )
        download = await files_client.get(archive["download_url"])
        assert download.status_code == 200, download.text
        assert archive["size"] == len(download.content)
        with zipfile.ZipFile(io.BytesIO(download.content)) as unzipped:
            assert unzipped.testzip() is None
            assert sorted(unzipped.namelist()) == sorted(expected)
            for path, data in expected.items():
                assert unzipped.read(path) == data, path
            methods = {info.filename: info.compress_type for info in unzipped.infolist()}
        assert methods["raw/sub/S2.bam"] == zipfile.ZIP_STORED
        assert methods["raw/S1_R1.fastq"] == zipfile.ZIP_DEFLATED
        # Stored outside the project's tree: never among its files.
        assert (storage_root / f"archives/{project_id}/{archive_id}.zip").is_file()
        listing = await files_client.get("/api/v1/files", headers=editor.in_project(project_id))
        assert [item["path"] for item in listing.json()["items"]] == ["raw/", "results/"]

    async def test_whole_project_with_an_empty_path(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
    ) -> None:
        editor, _, project_id = project
        queued = await request_archive(files_client, editor, project_id, [""], "everything.zip")

        await build_next_archive(files_app)

        archive = await get_archive(files_client, editor, project_id, queued.json()["id"])
        download = await files_client.get(archive["download_url"])
        with zipfile.ZipFile(io.BytesIO(download.content)) as unzipped:
            assert sorted(unzipped.namelist()) == sorted(tree)

    async def test_empty_queue_builds_nothing(self, files_app: FastAPI) -> None:
        assert await build_next_archive(files_app) is None

    async def test_archives_are_built_oldest_first(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
    ) -> None:
        editor, _, project_id = project
        first = await request_archive(files_client, editor, project_id, ["raw/empty.txt"], "a")
        second = await request_archive(files_client, editor, project_id, ["raw/empty.txt"], "b")

        built = [await build_next_archive(files_app) for _ in range(3)]

        assert [str(b) if b else None for b in built] == [
            first.json()["id"],
            second.json()["id"],
            None,
        ]

    async def test_file_deleted_before_the_build_fails_the_archive(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
        storage_root: Path,
    ) -> None:
        editor, _, project_id = project
        queued = await request_archive(
            files_client, editor, project_id, ["raw/", "results/report.html"], "x"
        )
        deleted = await files_client.delete(
            "/api/v1/files",
            params={"path": "results/report.html"},
            headers=editor.in_project(project_id),
        )
        assert deleted.status_code == 200, deleted.text

        await build_next_archive(files_app)

        archive = await get_archive(files_client, editor, project_id, queued.json()["id"])
        assert archive["status"] == "failed"
        assert "results/report.html was deleted or moved" in archive["error"]
        assert archive["download_url"] is None
        assert archive["finished_at"] is not None
        assert not (storage_root / "archives").exists()

    async def test_selection_over_the_size_limit_fails_the_archive(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project
        monkeypatch.setattr(files_app.state.settings, "ARCHIVE_MAX_BYTES", 1024 * 1024)
        queued = await request_archive(files_client, editor, project_id, ["raw/"], "x")

        await build_next_archive(files_app)

        archive = await get_archive(files_client, editor, project_id, queued.json()["id"])
        assert archive["status"] == "failed"
        assert "more than 1048576 bytes" in archive["error"]
        assert "select fewer files" in archive["error"]

    async def test_unexpected_error_fails_the_archive(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project
        queued = await request_archive(files_client, editor, project_id, ["raw/"], "x")

        async def broken_write(key: str, chunks: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(files_app.state.storage, "write", broken_write)

        await build_next_archive(files_app)

        archive = await get_archive(files_client, editor, project_id, queued.json()["id"])
        assert archive["status"] == "failed"
        assert "unexpected OSError" in archive["error"]
        assert queued.json()["id"] in archive["error"]


class TestGetArchive:
    async def test_another_projects_archive_is_404(
        self, files_client: httpx.AsyncClient, project: Any, tree: dict[str, bytes], factory: Any
    ) -> None:
        editor, _, project_id = project
        queued = await request_archive(files_client, editor, project_id, ["raw/"], "x")
        owner = await factory.user()
        their_project = await factory.project(await factory.org(owner))

        response = await files_client.get(
            f"{ARCHIVES}/{queued.json()['id']}", headers=owner.in_project(their_project)
        )

        assert response.status_code == 404, response.text

    async def test_unknown_archive_is_404(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project

        response = await files_client.get(
            f"{ARCHIVES}/{uuid.uuid4()}", headers=editor.in_project(project_id)
        )

        assert response.status_code == 404, response.text


class TestListArchives:
    async def test_pages_this_projects_archives_newest_first(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: Any,
        tree: dict[str, bytes],
        factory: Any,
    ) -> None:
        editor, viewer, project_id = project
        ids = [
            (await request_archive(files_client, editor, project_id, ["raw/"], f"a{i}")).json()[
                "id"
            ]
            for i in range(3)
        ]
        await build_next_archive(files_app)
        owner = await factory.user()
        their_project = await factory.project(await factory.org(owner))
        await files_client.post(
            "/api/v1/files/folders", json={"path": "x"}, headers=owner.in_project(their_project)
        )
        await request_archive(files_client, owner, their_project, ["x/"], "theirs")

        first = await files_client.get(
            ARCHIVES, params={"limit": 2}, headers=viewer.in_project(project_id)
        )
        second = await files_client.get(
            ARCHIVES, params={"limit": 2, "offset": 2}, headers=viewer.in_project(project_id)
        )

        assert first.status_code == 200, first.text
        assert first.json()["count"] == 3
        items = first.json()["items"] + second.json()["items"]
        assert [item["id"] for item in items] == ids[::-1]
        assert [item["status"] for item in items] == ["queued", "queued", "ready"]
        assert items[-1]["download_url"] is not None
        assert 'rel="next"' in first.headers["Link"]
