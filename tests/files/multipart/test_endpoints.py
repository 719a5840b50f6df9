from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_files.config import Settings
from nfhub_files.models import MultipartUpload, audit_events
from nfhub_files.multipart.service import DEFAULT_PART_BYTES, MIB, plan_parts
from nfhub_files.storage.local import locks, multipart, writer
from nfhub_files.storage.local.disk import TEMP_PREFIX

MULTIPART = "/api/v1/files/multipart"
DATA = os.urandom(2500)  # three parts of 1024, 1024 and 452 bytes


async def start(
    client: httpx.AsyncClient, actor: Any, project_id: uuid.UUID, **body: Any
) -> dict[str, Any]:
    body = {"path": "raw/big.bam", "size": len(DATA), "part_size": 1024, **body}
    response = await client.post(MULTIPART, json=body, headers=actor.in_project(project_id))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def put_part(client: httpx.AsyncClient, part: dict[str, Any], data: bytes) -> str:
    """PUT one part like a user's script would; returns the ETag the store gave it."""
    response = await client.request(
        part["method"], part["url"], content=data, headers=part["headers"]
    )
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def chunk(part: dict[str, Any], data: bytes = DATA, part_size: int = 1024) -> bytes:
    offset = (part["part_number"] - 1) * part_size
    return data[offset : offset + part["size"]]


async def upload_all(client: httpx.AsyncClient, upload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"part_number": part["part_number"], "etag": await put_part(client, part, chunk(part))}
        for part in upload["parts"]
    ]


def complete_url(upload: dict[str, Any]) -> str:
    return f"{MULTIPART}/{upload['id']}/complete"


async def complete(
    client: httpx.AsyncClient,
    upload: dict[str, Any],
    parts: list[dict[str, Any]],
    actor: Any,
    project_id: uuid.UUID,
) -> httpx.Response:
    """POST the upload's completion with ``parts`` as ``actor`` would."""
    return await client.post(
        complete_url(upload), json={"parts": parts}, headers=actor.in_project(project_id)
    )


def assembled(storage_root: Path, project_id: uuid.UUID) -> bytes:
    """The bytes of the file a completed upload made (every upload here is raw/big.bam)."""
    return (storage_root / f"projects/{project_id}/raw/big.bam").read_bytes()


def etag_list(etags: dict[int, str]) -> list[dict[str, Any]]:
    """A completion's parts from {part number: ETag}, in order."""
    return [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]


@pytest.fixture
def other_project_editor(factory: Any) -> Any:
    async def make() -> tuple[Any, uuid.UUID]:
        owner = await factory.user()
        editor = await factory.user()
        org = await factory.org(owner)
        return editor, await factory.project(org, members={editor: "editor"})

    return make


class TestPlanParts:
    def test_default_part_size_when_few_parts(self, files_settings: Settings) -> None:
        assert plan_parts(300 * MIB, None, files_settings) == (DEFAULT_PART_BYTES, 5)

    def test_default_part_size_grows_to_stay_within_max_parts(
        self, files_settings: Settings
    ) -> None:
        settings = files_settings.model_copy(update={"MULTIPART_MAX_PARTS": 4})

        part_size, part_count = plan_parts(300 * MIB, None, settings)

        assert (part_size, part_count) == (75 * MIB, 4)

    def test_small_file_is_one_part(self, files_settings: Settings) -> None:
        assert plan_parts(100, None, files_settings) == (100, 1)

    def test_last_part_may_be_below_minimum(self, files_settings: Settings) -> None:
        assert plan_parts(1024 + 10, 1024, files_settings) == (1024, 2)


class TestStartMultipartUpload:
    async def test_returns_a_signed_url_per_part(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project

        upload = await start(files_client, editor, project_id, content_type="application/x-bam")

        assert upload["path"] == "raw/big.bam"
        assert (upload["size"], upload["part_size"], upload["part_count"]) == (2500, 1024, 3)
        assert upload["status"] == "uploading"
        assert [(p["part_number"], p["size"], p["method"]) for p in upload["parts"]] == [
            (1, 1024, "PUT"),
            (2, 1024, "PUT"),
            (3, 452, "PUT"),
        ]
        assert all(p["url"].startswith("http://files.test/blobs/") for p in upload["parts"])
        assert upload["uploaded_parts"] == []
        assert datetime.fromisoformat(upload["expires_at"]) > datetime.now(UTC) + timedelta(days=1)
        assert datetime.fromisoformat(upload["urls_expire_at"]) > datetime.now(UTC)

    async def test_part_size_is_chosen_when_absent(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project

        upload = await start(files_client, editor, project_id, part_size=None)

        assert (upload["part_size"], upload["part_count"]) == (2500, 1)

    async def test_records_the_upload_and_audits_it(
        self, files_client: httpx.AsyncClient, project: Any, db_session: AsyncSession
    ) -> None:
        editor, _, project_id = project

        upload = await start(files_client, editor, project_id)

        row = await db_session.get(MultipartUpload, uuid.UUID(upload["id"]))
        assert row is not None
        assert row.project_id == project_id
        assert row.key == f"projects/{project_id}/raw/big.bam"
        assert row.created_by == str(editor.id)
        actions = (
            await db_session.scalars(
                select(audit_events.c.action).where(audit_events.c.project_id == project_id)
            )
        ).all()
        assert "multipart.start" in actions

    async def test_part_size_below_minimum_is_400(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project

        response = await files_client.post(
            MULTIPART,
            json={"path": "big.bam", "size": 5000, "part_size": 100},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 400, response.text
        assert "at least 1024 bytes" in response.json()["detail"]

    async def test_too_many_parts_is_400_with_the_part_size_that_fits(
        self, files_client: httpx.AsyncClient, project: Any, files_app: FastAPI
    ) -> None:
        editor, _, project_id = project
        files_app.state.settings.MULTIPART_MAX_PARTS = 2

        response = await files_client.post(
            MULTIPART,
            json={"path": "big.bam", "size": 5000, "part_size": 1024},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 400, response.text
        assert "part_size >= 2500" in response.json()["detail"]

    async def test_file_above_the_size_limit_is_400(
        self, files_client: httpx.AsyncClient, project: Any, files_app: FastAPI
    ) -> None:
        editor, _, project_id = project
        files_app.state.settings.MAX_OBJECT_BYTES = 2000

        response = await files_client.post(
            MULTIPART, json={"path": "big.bam", "size": 2001}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 400, response.text
        assert "at most 2000 bytes" in response.json()["detail"]

    async def test_folder_at_the_path_is_409(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        folder = await files_client.post(
            "/api/v1/files/folders", json={"path": "raw"}, headers=editor.in_project(project_id)
        )
        assert folder.status_code == 201, folder.text

        response = await files_client.post(
            MULTIPART, json={"path": "raw", "size": 10}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 409, response.text
        assert "is a folder" in response.json()["detail"]

    @pytest.mark.parametrize("path", ["../escape.bam", "/abs.bam", "a/%2e%2e/b", "a\\b", "a\x00b"])
    async def test_path_escape_is_400(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path, path: str
    ) -> None:
        editor, _, project_id = project

        response = await files_client.post(
            MULTIPART, json={"path": path, "size": 10}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 400, response.text
        assert not (storage_root / ".multipart").exists() or not any(
            (storage_root / ".multipart").iterdir()
        )

    async def test_viewer_cannot_start_an_upload(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        _, viewer, project_id = project

        response = await files_client.post(
            MULTIPART, json={"path": "a.bam", "size": 10}, headers=viewer.in_project(project_id)
        )

        assert response.status_code == 403, response.text

    async def test_token_without_files_write_is_403(
        self, files_client: httpx.AsyncClient, factory: Any
    ) -> None:
        owner = await factory.user()
        reader = await factory.user(scopes=frozenset({"files:read"}))
        project_id = await factory.project(await factory.org(owner), members={reader: "editor"})

        response = await files_client.post(
            MULTIPART, json={"path": "a.bam", "size": 10}, headers=reader.in_project(project_id)
        )

        assert response.status_code == 403, response.text


class TestGetMultipartUpload:
    async def test_resume_lists_uploaded_parts_and_fresh_urls_for_the_rest(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, viewer, project_id = project
        upload = await start(files_client, editor, project_id)
        second = upload["parts"][1]
        etag = await put_part(files_client, second, chunk(second))

        # The client was interrupted here; it asks what is left (a viewer may look, too).
        response = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=viewer.in_project(project_id)
        )

        assert response.status_code == 200, response.text
        resumed = response.json()
        assert resumed["uploaded_parts"] == [
            {"part_number": 2, "size": 1024, "etag": etag.strip('"')}
        ]
        assert [p["part_number"] for p in resumed["parts"]] == [1, 3]
        etags = {2: etag}
        for part in resumed["parts"]:
            etags[part["part_number"]] = await put_part(files_client, part, chunk(part))
        completed = await complete(
            files_client,
            upload,
            [{"part_number": n, "etag": etags[n]} for n in (1, 2, 3)],
            editor,
            project_id,
        )
        assert completed.status_code == 200, completed.text
        assert assembled(storage_root, project_id) == DATA

    async def test_part_of_the_wrong_size_is_offered_again(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        await put_part(files_client, upload["parts"][0], b"too short")

        response = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )

        resumed = response.json()
        assert [(p["part_number"], p["size"]) for p in resumed["uploaded_parts"]] == [(1, 9)]
        assert [p["part_number"] for p in resumed["parts"]] == [1, 2, 3]

    async def test_unknown_upload_is_404(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project

        response = await files_client.get(
            f"{MULTIPART}/{uuid.uuid4()}", headers=editor.in_project(project_id)
        )

        assert response.status_code == 404, response.text


class TestCompleteMultipartUpload:
    async def test_parts_and_the_joined_file_are_on_the_disk_before_their_answers(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path, flushes: Any
    ) -> None:
        """Each part: its bytes flushed, then its record written aside, flushed, renamed into
        place and its folder flushed. Completing: the file flushed, renamed, its folder
        flushed; no part is copied."""
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        (plan,) = flushes.renames()
        staging = os.path.dirname(plan)
        flushes.events.clear()

        parts = await upload_all(files_client, upload)

        def named(path: str) -> str:
            name = os.path.basename(path)
            return "(temporary)" if name.startswith(TEMP_PREFIX) else name

        one_part = [("fsync", "data"), ("fsync", "(temporary)"), ("replace", "(temporary)")]
        assert [(kind, named(path)) for kind, path, *_ in flushes.events] == [
            event
            for number in (1, 2, 3)
            for event in [*one_part, ("fsync", os.path.basename(staging))]
        ]
        assert [os.path.basename(name) for name in flushes.renames()] == [
            "part-00001.done", "part-00002.done", "part-00003.done"
        ]  # fmt: skip
        assert flushes.durable_renames() == flushes.renames()
        flushes.events.clear()
        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 200, response.text
        joined = str(storage_root / f"projects/{project_id}/raw/big.bam")
        assert flushes.events == [
            ("fsync", f"{staging}/data"),
            ("replace", f"{staging}/data", joined),
            ("fsync", os.path.dirname(joined)),
        ]

    async def test_joins_the_parts_into_the_file(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, viewer, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 200, response.text
        entry = response.json()
        assert (entry["path"], entry["name"], entry["kind"], entry["size"]) == (
            "raw/big.bam",
            "big.bam",
            "file",
            len(DATA),
        )
        assert assembled(storage_root, project_id) == DATA
        assert not any((storage_root / ".multipart").iterdir())
        after = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=viewer.in_project(project_id)
        )
        assert after.json()["status"] == "completed"
        assert after.json()["parts"] == []
        link = await files_client.get(
            "/api/v1/files/download-url",
            params={"path": "raw/big.bam"},
            headers=viewer.in_project(project_id),
        )
        assert (await files_client.get(link.json()["url"])).content == DATA

    async def test_etags_match_with_or_without_quotes(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = [
            {**p, "etag": p["etag"].strip('"')} for p in await upload_all(files_client, upload)
        ]

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 200, response.text

    async def test_parts_not_uploaded_is_409_naming_them(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first = upload["parts"][0]
        etag = await put_part(files_client, first, chunk(first))

        response = await complete(
            files_client,
            upload,
            [{"part_number": n, "etag": etag} for n in (1, 2, 3)],
            editor,
            project_id,
        )

        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert "Parts 2 and 3 of 3 have not been uploaded" in detail
        assert f"GET {MULTIPART}/{upload['id']}" in detail

    async def test_request_leaving_out_a_part_is_409(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)

        response = await complete(files_client, upload, parts[:2], editor, project_id)

        assert response.status_code == 409, response.text
        assert "leaves out parts 3" in response.json()["detail"]

    async def test_wrong_etag_is_409(self, files_client: httpx.AsyncClient, project: Any) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)
        parts[1]["etag"] = '"0123456789abcdef0123456789abcdef"'

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 409, response.text
        assert "ETags of parts 2 do not match" in response.json()["detail"]

    async def test_sizes_not_adding_up_is_409(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = [
            {"part_number": p["part_number"], "etag": await put_part(files_client, p, b"x" * 10)}
            if p["part_number"] == 2
            else {
                "part_number": p["part_number"],
                "etag": await put_part(files_client, p, chunk(p)),
            }
            for p in upload["parts"]
        ]

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert "part 2 holds 10 bytes, it should hold 1024" in detail
        assert "do not add up to 2500 bytes" in detail
        assert not (storage_root / f"projects/{project_id}/raw/big.bam").exists()

    async def test_repeated_part_is_422(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)

        response = await complete(files_client, upload, [*parts, parts[0]], editor, project_id)

        assert response.status_code == 422, response.text
        assert "Parts 1 are listed twice" in response.json()["detail"]

    async def test_part_beyond_the_last_is_422(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)

        response = await complete(
            files_client, upload, [*parts, {"part_number": 9, "etag": "x"}], editor, project_id
        )

        assert response.status_code == 422, response.text
        assert "there is no part 9" in response.json()["detail"]

    async def test_completing_twice_is_409(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)
        first = await complete(files_client, upload, parts, editor, project_id)
        assert first.status_code == 200, first.text

        again = await complete(files_client, upload, parts, editor, project_id)

        assert again.status_code == 409, again.text
        assert "already complete" in again.json()["detail"]

    async def test_expired_upload_is_409(
        self, files_client: httpx.AsyncClient, project: Any, db_session: AsyncSession
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)
        await db_session.execute(
            update(MultipartUpload)
            .where(MultipartUpload.id == uuid.UUID(upload["id"]))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        await db_session.commit()

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 409, response.text
        assert "expired" in response.json()["detail"]
        current = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )
        assert (current.json()["status"], current.json()["parts"]) == ("expired", [])

    async def test_viewer_cannot_complete(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, viewer, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)

        response = await complete(files_client, upload, parts, viewer, project_id)

        assert response.status_code == 403, response.text


class TestPartsInPlace:
    """On the local backend each part is written straight into its place in the file being
    assembled: order does not matter, a part sent again replaces itself, and no part is
    written into a file once its upload is being completed."""

    @pytest.fixture
    def short_lock_wait(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(locks, "LOCK_WAIT_SECONDS", 0.2)

    @staticmethod
    def staging_of(storage_root: Path) -> Path:
        (staging,) = (storage_root / ".multipart").iterdir()
        return staging

    @staticmethod
    @contextlib.contextmanager
    def held(path: Path, mode: int) -> Iterator[None]:
        """``path`` locked as a request of another worker process would lock it."""
        with path.open("ab") as handle:
            fcntl.flock(handle.fileno(), mode)
            yield

    async def test_parts_sent_last_to_first_make_the_same_file(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = [
            {"part_number": p["part_number"], "etag": await put_part(files_client, p, chunk(p))}
            for p in reversed(upload["parts"])
        ]

        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 200, response.text
        assert assembled(storage_root, project_id) == DATA

    async def test_a_part_sent_again_with_other_bytes_replaces_the_first(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first, *others = upload["parts"]
        await put_part(files_client, first, b"w" * first["size"])
        etags = {first["part_number"]: await put_part(files_client, first, chunk(first))}
        etags.update(
            {
                part["part_number"]: await put_part(files_client, part, chunk(part))
                for part in others
            }
        )

        state = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )
        held = {p["part_number"]: p["etag"] for p in state.json()["uploaded_parts"]}
        assert held == {number: etag.strip('"') for number, etag in etags.items()}
        response = await complete(files_client, upload, etag_list(etags), editor, project_id)

        assert response.status_code == 200, response.text
        assert assembled(storage_root, project_id) == DATA

    async def test_a_part_sent_again_with_the_same_bytes_has_a_new_etag_and_the_old_one_is_409(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        # A local part's ETag names the write, not the bytes: a client that sent a part twice
        # must complete with what the store holds, the second write.
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first, *others = upload["parts"]
        stale = await put_part(files_client, first, chunk(first))
        fresh = await put_part(files_client, first, chunk(first))
        etags = {
            part["part_number"]: await put_part(files_client, part, chunk(part)) for part in others
        }

        assert fresh != stale

        async def complete_with(first_etag: str) -> httpx.Response:
            every = {**etags, first["part_number"]: first_etag}
            return await complete(files_client, upload, etag_list(every), editor, project_id)

        refused = await complete_with(stale)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"].startswith("The ETags of parts 1 do not match")
        completed = await complete_with(fresh)
        assert completed.status_code == 200, completed.text
        assert assembled(storage_root, project_id) == DATA

    async def test_a_part_cut_short_is_not_recorded_and_its_retry_fills_its_place(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        storage_root: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(writer, "WRITE_BUFFER", 512)  # its first bytes are written at once
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first = upload["parts"][0]

        async def one_byte_too_many() -> AsyncIterator[bytes]:
            # Streamed, without a Content-Length: refused only once its bytes are being
            # written into the part's place, not up front from a declared length.
            yield b"z" * first["size"]
            yield b"z"

        too_big = await files_client.put(first["url"], content=one_byte_too_many())
        assert too_big.status_code == 413, too_big.text
        data = self.staging_of(storage_root) / multipart.DATA_FILE
        assert data.read_bytes() == b"z" * first["size"]  # refused midway, in its place
        state = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )
        assert state.json()["uploaded_parts"] == []
        parts = await upload_all(files_client, upload)
        response = await complete(files_client, upload, parts, editor, project_id)

        assert response.status_code == 200, response.text
        assert assembled(storage_root, project_id) == DATA

    async def test_completing_while_a_part_is_being_written_is_a_409_and_keeps_the_upload(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        storage_root: Path,
        short_lock_wait: None,
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)
        staging = self.staging_of(storage_root)
        # What a part's PUT holds while it writes (another process's, as another worker's).
        with self.held(staging / multipart.PLAN_FILE, fcntl.LOCK_SH):
            busy = await complete(files_client, upload, parts, editor, project_id)

        assert busy.status_code == 409, busy.text
        assert "still being sent" in busy.json()["detail"]
        assert (staging / multipart.DATA_FILE).read_bytes() == DATA
        done = await complete(files_client, upload, parts, editor, project_id)
        assert done.status_code == 200, done.text
        assert assembled(storage_root, project_id) == DATA

    async def test_a_part_whose_upload_is_being_completed_waits_then_409s(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        storage_root: Path,
        short_lock_wait: None,
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first = upload["parts"][0]
        staging = self.staging_of(storage_root)
        with self.held(staging / multipart.PLAN_FILE, fcntl.LOCK_EX):  # as completing holds it
            response = await files_client.put(first["url"], content=chunk(first))

        assert response.status_code == 409, response.text
        assert (staging / multipart.DATA_FILE).stat().st_size == 0  # nothing written

    async def test_the_same_part_sent_twice_at_once_waits_for_the_first(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        storage_root: Path,
        short_lock_wait: None,
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first = upload["parts"][0]
        staging = self.staging_of(storage_root)
        with self.held(staging / "part-00001.lock", fcntl.LOCK_EX):  # as a first PUT holds it
            response = await files_client.put(first["url"], content=chunk(first))

        assert response.status_code == 409, response.text
        assert "Part 1 is being uploaded" in response.json()["detail"]
        assert (await files_client.put(first["url"], content=chunk(first))).status_code == 200

    async def test_a_cancelled_part_keeps_its_lock_until_the_write_in_flight_ends(
        self,
        files_app: FastAPI,
        storage_root: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Else a retry of the part could write beside the thread still writing the first
        attempt's bytes, and the last of those would land over the retry's."""
        monkeypatch.setattr(writer, "WRITE_BUFFER", 1024)
        storage = files_app.state.storage
        key = f"projects/{uuid.uuid4()}/raw/big.bam"
        upload_id = await storage.start_multipart(key, content_type=None, part_size=1024)
        writing, release = threading.Event(), threading.Event()
        write = writer.write_and_hash

        def held(*args: Any) -> None:
            writing.set()
            release.wait(10)
            write(*args)

        monkeypatch.setattr(writer, "write_and_hash", held)

        async def body() -> AsyncIterator[bytes]:
            yield b"p" * 1024  # one full buffer, handed to the writer
            await asyncio.Event().wait()  # then the client goes quiet

        task = asyncio.create_task(storage.receive_part(key, upload_id, 1, body(), 1024))
        assert await asyncio.to_thread(writing.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        lock_path = storage_root / ".multipart" / upload_id / "part-00001.lock"

        def lock_is_free() -> bool:
            with lock_path.open("rb") as handle:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

        assert not lock_is_free()  # the thread still writes part 1
        release.set()
        for _ in range(500):
            if lock_is_free():
                break
            await asyncio.sleep(0.01)
        assert lock_is_free()
        assert await storage.list_parts(key, upload_id) == []  # never recorded

    async def test_a_part_of_an_aborted_upload_is_a_404(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        aborted = await files_client.delete(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )
        assert aborted.status_code == 204, aborted.text
        first = upload["parts"][0]

        response = await files_client.put(first["url"], content=chunk(first))

        assert response.status_code == 404, response.text
        assert not (storage_root / ".multipart").exists() or not any(
            (storage_root / ".multipart").iterdir()
        )


class TestAbortMultipartUpload:
    async def test_abort_drops_the_parts(
        self, files_client: httpx.AsyncClient, project: Any, storage_root: Path
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        first = upload["parts"][0]
        await put_part(files_client, first, chunk(first))

        response = await files_client.delete(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )

        assert response.status_code == 204, response.text
        assert not any((storage_root / ".multipart").iterdir())
        late = await files_client.put(upload["parts"][1]["url"], content=chunk(upload["parts"][1]))
        assert late.status_code == 404, late.text
        after = await files_client.get(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )
        assert after.json()["status"] == "aborted"
        completing = await complete(
            files_client, upload, [{"part_number": 1, "etag": "x"}], editor, project_id
        )
        assert completing.status_code == 409, completing.text
        assert "was aborted" in completing.json()["detail"]

    async def test_abort_twice_is_204(self, files_client: httpx.AsyncClient, project: Any) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        url = f"{MULTIPART}/{upload['id']}"

        first = await files_client.delete(url, headers=editor.in_project(project_id))
        second = await files_client.delete(url, headers=editor.in_project(project_id))

        assert (first.status_code, second.status_code) == (204, 204)

    async def test_abort_after_complete_is_409(
        self, files_client: httpx.AsyncClient, project: Any
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        parts = await upload_all(files_client, upload)
        await complete(files_client, upload, parts, editor, project_id)

        response = await files_client.delete(
            f"{MULTIPART}/{upload['id']}", headers=editor.in_project(project_id)
        )

        assert response.status_code == 409, response.text
        assert "DELETE /api/v1/files?path=raw/big.bam" in response.json()["detail"]

    async def test_viewer_cannot_abort(self, files_client: httpx.AsyncClient, project: Any) -> None:
        editor, viewer, project_id = project
        upload = await start(files_client, editor, project_id)

        response = await files_client.delete(
            f"{MULTIPART}/{upload['id']}", headers=viewer.in_project(project_id)
        )

        assert response.status_code == 403, response.text


class TestOtherProjectsUploads:
    @pytest.mark.parametrize(
        ("method", "suffix", "body"),
        [
            ("GET", "", None),
            ("POST", "/complete", {"parts": [{"part_number": 1, "etag": "x"}]}),
            ("DELETE", "", None),
        ],
    )
    async def test_another_projects_upload_is_404(
        self,
        files_client: httpx.AsyncClient,
        project: Any,
        other_project_editor: Any,
        storage_root: Path,
        method: str,
        suffix: str,
        body: dict[str, Any] | None,
    ) -> None:
        editor, _, project_id = project
        upload = await start(files_client, editor, project_id)
        stranger, their_project = await other_project_editor()

        response = await files_client.request(
            method,
            f"{MULTIPART}/{upload['id']}{suffix}",
            json=body,
            headers=stranger.in_project(their_project),
        )

        assert response.status_code == 404, response.text
        assert len(list((storage_root / ".multipart").iterdir())) == 1  # untouched
