"""Racing moves of one file or folder: one wins, the other is refused, no byte lost or doubled.

Requests that race need their own connections and real commits (the advisory locks that
serialise them live in each request's transaction), which the per-test rolled-back transaction
cannot give: so here admin and files run on their own engines, the users, org and project are
committed through admin's, and deleted at the end. Audit rows stay (append-only by design; the
test database is dropped with the session).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from nfhub_admin.main import create_app as create_admin_app
from nfhub_admin.models import Org, User
from nfhub_files.config import Settings
from nfhub_files.main import create_app as create_files_app
from support.factory import Actor, Factory

ROUNDS = 5
FILES_BASE_URL = "http://files.test"


@dataclass(frozen=True)
class Live:
    client: httpx.AsyncClient
    editor: Actor
    project_id: uuid.UUID
    project_dir: Path

    @property
    def headers(self) -> dict[str, str]:
        return self.editor.in_project(self.project_id)

    def files(self) -> dict[str, bytes]:
        """Every file in the project, by path."""
        return {
            path.relative_to(self.project_dir).as_posix(): path.read_bytes()
            for path in sorted(self.project_dir.rglob("*"))
            if path.is_file()
        }


@pytest.fixture
async def live(
    admin_settings: Any, files_settings: Settings, storage_root: Path
) -> AsyncIterator[Live]:
    """admin and files on their own engines; an editor and a project committed for real."""
    admin = create_admin_app(admin_settings.model_copy(update={"DATABASE_POOL_SIZE": 4}))
    async with admin.router.lifespan_context(admin):
        factory = Factory(admin.state.sessionmaker, admin)
        owner, editor = await factory.user(), await factory.user()
        org_id = await factory.org(owner)
        try:
            project_id = await factory.project(org_id, members={editor: "editor"})
            files = create_files_app(
                files_settings.model_copy(update={"DATABASE_POOL_SIZE": 4}),
                http_transport=httpx.ASGITransport(app=admin),
            )
            transport = httpx.ASGITransport(app=files, raise_app_exceptions=False)
            async with (
                files.router.lifespan_context(files),
                httpx.AsyncClient(transport=transport, base_url=FILES_BASE_URL) as client,
            ):
                project_dir = storage_root / "projects" / str(project_id)
                project_dir.mkdir(parents=True)
                yield Live(client, editor, project_id, project_dir)
        finally:
            async with admin.state.sessionmaker() as session, session.begin():
                await session.execute(delete(Org).where(Org.id == org_id))
                await session.execute(delete(User).where(User.id.in_([owner.id, editor.id])))


async def race(live: Live, src: str, destinations: list[str]) -> list[httpx.Response]:
    return list(
        await asyncio.gather(
            *(
                live.client.post(
                    "/api/v1/files/move", json={"src": src, "dst": dst}, headers=live.headers
                )
                for dst in destinations
            )
        )
    )


class TestConcurrentMoves:
    async def test_two_moves_of_one_file_leave_exactly_one_copy(self, live: Live) -> None:
        for round_ in range(ROUNDS):
            data = f"round {round_}: {uuid.uuid4()}\n".encode()
            (live.project_dir / f"src-{round_}.txt").write_bytes(data)
            destinations = [f"a/dst-{round_}.txt", f"b/dst-{round_}.txt"]

            responses = await race(live, f"src-{round_}.txt", destinations)

            statuses = [response.status_code for response in responses]
            assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in {404, 409}, [
                r.text for r in responses
            ]
            winner = destinations[statuses.index(200)]
            loser = responses[1 - statuses.index(200)]
            assert loser.headers["content-type"] == "application/problem+json"
            holding = [path for path, content in live.files().items() if content == data]
            assert holding == [winner]

    async def test_two_moves_of_one_folder_leave_exactly_one_copy(self, live: Live) -> None:
        for round_ in range(ROUNDS):
            tag = uuid.uuid4().hex
            names = ["r1.fastq", "r2.fastq", "deeper/sheet.csv"]
            for name in names:
                path = live.project_dir / f"run-{round_}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(f"{tag} {name}\n".encode())
            destinations = [f"a/run-{round_}", f"b/run-{round_}"]

            responses = await race(live, f"run-{round_}", destinations)

            statuses = [response.status_code for response in responses]
            assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in {404, 409}, [
                r.text for r in responses
            ]
            winner = destinations[statuses.index(200)]
            holding = sorted(
                path for path, content in live.files().items() if content.startswith(tag.encode())
            )
            assert holding == sorted(f"{winner}/{name}" for name in names)
            assert not (live.project_dir / f"run-{round_}").exists()
