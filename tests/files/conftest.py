"""The files service in-process, asking the in-process admin who callers are."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_files.config import Settings
from nfhub_files.main import create_app
from support.settings import settings_of

FILES_BASE_URL = "http://files.test"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


@pytest.fixture
def files_settings(nfhub_database_url: str, storage_root: Path) -> Settings:
    return settings_of(
        Settings,
        ENVIRONMENT="test",
        DATABASE_URL=nfhub_database_url,
        DATABASE_POOL_SIZE=2,
        DATABASE_MAX_OVERFLOW=0,
        # In-process apps work in the test's rolled-back transaction: admin's access
        # announcements never commit, and the TTL tests need the caches left alone.
        ACCESS_CHANGE_LISTENER=False,
        ADMIN_URL="http://admin.test",
        STORAGE_BACKEND="local",
        per_test={"LOCAL_ROOT": storage_root},
        FILES_URL=FILES_BASE_URL,
        # Tests build archives by calling build_next_archive(): a background loop would share
        # the test's one database connection with the requests.
        ARCHIVE_WORKER_ENABLED=False,
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
async def project(factory: Any) -> tuple[Any, Any, uuid.UUID]:
    """An editor and a viewer in one project: (editor, viewer, project_id)."""
    owner, editor, viewer = await factory.users(3)
    org = await factory.org(owner)
    project_id = await factory.project(org, members={editor: "editor", viewer: "viewer"})
    return editor, viewer, project_id


# -- the disk, as the tests see it -------------------------------------------------------------

Entry = tuple[str, bytes | str | None, int]


@dataclass(frozen=True)
class Disk:
    """The project's folder, sentinels around it, and a snapshot of everything under ``top``.

    ``top`` holds the storage root and the root's parent-level sentinel, so a snapshot sees any
    write, rename or delete the service makes anywhere a path escape could reach.
    """

    top: Path
    root: Path
    project_dir: Path
    other_project_id: uuid.UUID
    other_project_file: Path
    root_file: Path
    outside_file: Path

    def snapshot(self) -> dict[str, Entry]:
        """Every file, folder and symlink under ``top``: kind, bytes or target, file mtime."""
        seen: dict[str, Entry] = {}
        for directory, folders, files in os.walk(self.top):
            for name in folders + files:
                path = Path(directory) / name
                stat = path.lstat()
                relative = path.relative_to(self.top).as_posix()
                if path.is_symlink():
                    seen[relative] = ("link", os.readlink(path), stat.st_mtime_ns)
                elif path.is_dir():
                    # No mtime: a temporary file made and removed again changes it.
                    seen[relative] = ("dir", None, 0)
                else:
                    seen[relative] = ("file", path.read_bytes(), stat.st_mtime_ns)
        return seen

    def temp_files(self) -> list[Path]:
        """Upload leftovers (the local backend's temporary names) anywhere in the storage."""
        return sorted(self.root.rglob(".nfhub-*"))


@pytest.fixture
def disk(tmp_path: Path, storage_root: Path, project: tuple[Any, Any, uuid.UUID]) -> Disk:
    """The project holds ``inbox/data.txt`` and ``inbox/sub/deep.txt``; sentinels sit in
    another project's folder, at the storage root and next to the storage root."""
    project_dir = storage_root / "projects" / str(project[2])
    (project_dir / "inbox" / "sub").mkdir(parents=True)
    (project_dir / "inbox" / "data.txt").write_bytes(b"project data\n")
    (project_dir / "inbox" / "sub" / "deep.txt").write_bytes(b"deep\n")
    other_project_id = uuid.uuid4()
    other_project_file = storage_root / "projects" / str(other_project_id) / "secret.txt"
    other_project_file.parent.mkdir(parents=True)
    other_project_file.write_bytes(b"another project's secret\n")
    root_file = storage_root / "root-secret.txt"
    root_file.write_bytes(b"storage root secret\n")
    outside_file = tmp_path / "outside.txt"
    outside_file.write_bytes(b"outside the storage root\n")
    return Disk(
        top=tmp_path,
        root=storage_root,
        project_dir=project_dir,
        other_project_id=other_project_id,
        other_project_file=other_project_file,
        root_file=root_file,
        outside_file=outside_file,
    )


# -- every /api/v1/files route, with a request that succeeds for an editor on `disk` -----------

Prepared = dict[str, dict[str, Any]]
Prepare = Callable[[httpx.AsyncClient, Mapping[str, str]], Awaitable[Prepared]]


@dataclass(frozen=True)
class FileRoute:
    """One operation of the files API and a request that is valid against ``disk``.

    ``path_fields`` are the query parameters and body fields that name a file or folder.
    Query values are put on the wire as given (only characters that cannot appear in a URL
    are escaped), so a test can send ``%2e%2e%2f`` and have the server decode it once.
    A route whose URL or body needs something made first (a multipart upload, an archive)
    has ``prepare``; ``bind`` runs it and fills the values in.
    """

    operation_id: str
    method: str
    url: str
    role: Literal["viewer", "editor"]
    path_fields: tuple[str, ...]
    query: Mapping[str, str] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None
    success: int = 200
    prepare: Prepare | None = None
    # A batch lookup answers 200 and lists what it did not find, instead of a 404.
    reports_missing: bool = False

    @property
    def name(self) -> str:
        return f"{self.method} {self.url}"

    async def bind(self, client: httpx.AsyncClient, headers: Mapping[str, str]) -> FileRoute:
        """This route with the ids it needs made (by ``headers``, an editor) and filled in."""
        if self.prepare is None:
            return self
        prepared = await self.prepare(client, headers)
        return dataclasses.replace(
            self,
            url=self.url.format(**prepared.get("url", {})),
            body=None if self.body is None else {**self.body, **prepared.get("body", {})},
            prepare=None,
        )

    def send(
        self, client: httpx.AsyncClient, headers: Mapping[str, str], **values: str
    ) -> Awaitable[httpx.Response]:
        unknown = set(values) - set(self.query) - set(self.body or {})
        assert not unknown, f"{self.name} has no field {unknown}"
        assert self.prepare is None, f"bind {self.name} first"
        query = {key: values.get(key, value) for key, value in self.query.items()}
        body = None
        if self.body is not None:
            # A list field (archive paths) gets the value as its one item.
            body = {
                key: ([values[key]] if isinstance(value, list) else values[key])
                if key in values
                else value
                for key, value in self.body.items()
            }
        url = self.url
        if query:
            url += "?" + "&".join(f"{k}={quote(v, safe='/%')}" for k, v in query.items())
        return client.request(self.method, url, json=body, headers=dict(headers))


MULTIPART = "/api/v1/files/multipart"


async def start_multipart(client: httpx.AsyncClient, headers: Mapping[str, str]) -> Prepared:
    response = await client.post(
        MULTIPART, json={"path": "inbox/big.bin", "size": 10}, headers=dict(headers)
    )
    assert response.status_code == 201, response.text
    return {"url": {"upload_id": response.json()["id"]}}


async def upload_every_part(client: httpx.AsyncClient, headers: Mapping[str, str]) -> Prepared:
    response = await client.post(
        MULTIPART, json={"path": "inbox/big.bin", "size": 10}, headers=dict(headers)
    )
    assert response.status_code == 201, response.text
    parts = []
    for part in response.json()["parts"]:
        put = await client.put(part["url"], content=b"x" * part["size"], headers=part["headers"])
        assert put.status_code == 200, put.text
        parts.append({"part_number": part["part_number"], "etag": put.headers["etag"]})
    return {"url": {"upload_id": response.json()["id"]}, "body": {"parts": parts}}


async def queue_archive(client: httpx.AsyncClient, headers: Mapping[str, str]) -> Prepared:
    response = await client.post(
        "/api/v1/files/archives",
        json={"paths": ["inbox"], "name": "bundle"},
        headers=dict(headers),
    )
    assert response.status_code == 202, response.text
    return {"url": {"archive_id": response.json()["id"]}}


FILE_ROUTES: dict[str, FileRoute] = {
    route.operation_id: route
    for route in [
        FileRoute(
            "list_files",
            "GET",
            "/api/v1/files",
            "viewer",
            ("path",),
            query={"path": "inbox/"},
        ),
        FileRoute(
            "stat_file",
            "GET",
            "/api/v1/files/stat",
            "viewer",
            ("path",),
            query={"path": "inbox/data.txt"},
        ),
        FileRoute(
            "get_download_url",
            "GET",
            "/api/v1/files/download-url",
            "viewer",
            ("path",),
            query={"path": "inbox/data.txt"},
        ),
        FileRoute(
            "stat_files",
            "POST",
            "/api/v1/files/stat",
            "viewer",
            ("paths",),
            body={"paths": ["inbox/data.txt"]},
            reports_missing=True,
        ),
        FileRoute(
            "create_download_urls",
            "POST",
            "/api/v1/files/download-urls",
            "viewer",
            ("paths",),
            body={"paths": ["inbox/data.txt"]},
        ),
        FileRoute(
            "create_upload_url",
            "POST",
            "/api/v1/files/upload-url",
            "editor",
            ("path",),
            body={"path": "inbox/new.txt", "size": 5, "content_type": "text/plain"},
        ),
        FileRoute(
            "create_folder",
            "POST",
            "/api/v1/files/folders",
            "editor",
            ("path",),
            body={"path": "inbox/made"},
            success=201,
        ),
        FileRoute(
            "copy_files",
            "POST",
            "/api/v1/files/copy",
            "editor",
            ("src", "dst"),
            body={"src": "inbox/data.txt", "dst": "inbox/copied.txt", "overwrite": False},
        ),
        FileRoute(
            "move_files",
            "POST",
            "/api/v1/files/move",
            "editor",
            ("src", "dst"),
            body={"src": "inbox/data.txt", "dst": "inbox/moved.txt", "overwrite": False},
        ),
        FileRoute(
            "delete_files",
            "DELETE",
            "/api/v1/files",
            "editor",
            ("path",),
            query={"path": "inbox/data.txt"},
        ),
        FileRoute(
            "start_multipart_upload",
            "POST",
            MULTIPART,
            "editor",
            ("path",),
            body={"path": "inbox/big.bin", "size": 10},
            success=201,
        ),
        FileRoute(
            "get_multipart_upload",
            "GET",
            MULTIPART + "/{upload_id}",
            "viewer",
            (),
            prepare=start_multipart,
        ),
        FileRoute(
            "complete_multipart_upload",
            "POST",
            MULTIPART + "/{upload_id}/complete",
            "editor",
            (),
            body={"parts": []},
            prepare=upload_every_part,
        ),
        FileRoute(
            "abort_multipart_upload",
            "DELETE",
            MULTIPART + "/{upload_id}",
            "editor",
            (),
            success=204,
            prepare=start_multipart,
        ),
        FileRoute(
            "create_archive",
            "POST",
            "/api/v1/files/archives",
            # Viewers may download every file one by one, so they may have them zipped.
            "viewer",
            ("paths",),
            body={"paths": ["inbox"], "name": "bundle"},
            success=202,
        ),
        FileRoute(
            "list_archives",
            "GET",
            "/api/v1/files/archives",
            "viewer",
            (),
        ),
        FileRoute(
            "get_archive",
            "GET",
            "/api/v1/files/archives/{archive_id}",
            "viewer",
            (),
            prepare=queue_archive,
        ),
    ]
}


@pytest.fixture
def file_routes() -> dict[str, FileRoute]:
    return FILE_ROUTES


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``file_route``: every route of the table; ``path_field``: every (route, path field)."""
    if "file_route" in metafunc.fixturenames:
        routes = list(FILE_ROUTES.values())
        metafunc.parametrize("file_route", routes, ids=[r.name for r in routes])
    if "path_field" in metafunc.fixturenames:
        pairs = [(r, f) for r in FILE_ROUTES.values() for f in r.path_fields]
        metafunc.parametrize("path_field", pairs, ids=[f"{r.name}:{f}" for r, f in pairs])


class FlushLog:
    """What the local backend sent to the disk, in order: ``("fsync", path)`` for each flushed
    file or folder and ``("replace", source, destination)`` for each rename into place."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, ...]] = []
        fsync, replace = os.fsync, os.replace

        def recorded_fsync(descriptor: int) -> None:
            self.events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
            fsync(descriptor)

        def recorded_replace(source: Any, destination: Any) -> None:
            self.events.append(("replace", str(source), str(destination)))
            replace(source, destination)

        monkeypatch.setattr(os, "fsync", recorded_fsync)
        monkeypatch.setattr(os, "replace", recorded_replace)

    def durable_renames(self) -> list[str]:
        """The destinations of the renames whose file was flushed before and whose folder was
        flushed after."""
        durable = []
        for index, event in enumerate(self.events):
            if event[0] != "replace":
                continue
            _, source, destination = event
            flushed_before = ("fsync", source) in self.events[:index]
            folder = ("fsync", os.path.dirname(destination))
            if flushed_before and folder in self.events[index + 1 :]:
                durable.append(destination)
        return durable

    def renames(self) -> list[str]:
        return [event[2] for event in self.events if event[0] == "replace"]


@pytest.fixture
def flushes(monkeypatch: pytest.MonkeyPatch) -> FlushLog:
    return FlushLog(monkeypatch)
