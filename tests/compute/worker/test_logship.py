"""Log shipping: a run's launch-folder logs copied to the database as they grow, read by the
API from there (the real local backend reads the files; the API never does)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.backends import launchdir
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.models import Run, RunLogChunk
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.worker.logship import LogShipper


class Shipping:
    def __init__(self, session_factory: Any, settings: Settings, run_id: str, launch: Path):
        self.session_factory = session_factory
        self.shipper = LogShipper(session_factory, settings)
        self.backend = LocalBackend(settings.WORK_ROOT)
        self.run_id = uuid.UUID(run_id)
        self.launch_dir = launch

    def append(self, text: str, name: str = ".nextflow.log") -> None:
        with (self.launch_dir / name).open("a", encoding="utf-8") as handle:
            handle.write(text)

    async def ship(self, *, final: bool = False) -> None:
        async with self.session_factory() as session:
            run = await RunRepository(session).get(self.run_id)
        assert isinstance(run, Run)
        await self.shipper.ship(run, self.backend, final=final)

    async def chunks(self) -> list[tuple[str, int, int]]:
        from sqlalchemy import select

        async with self.session_factory() as session:
            rows = await session.execute(
                select(RunLogChunk.source, RunLogChunk.seq, RunLogChunk.first_line)
                .where(RunLogChunk.run_id == self.run_id)
                .order_by(RunLogChunk.source, RunLogChunk.seq)
            )
            return [(row[0], row[1], row[2]) for row in rows]


@pytest.fixture
async def shipping(
    hello: Any,
    launch: Any,
    set_run: Any,
    session_factory: Any,
    compute_settings: Settings,
    tmp_path: Path,
) -> Shipping:
    run = (await launch()).json()
    launch_dir = tmp_path / "launch"
    launch_dir.mkdir()
    await set_run(
        run["id"],
        state="RUNNING",
        launch_dir=str(launch_dir),
        owner_host="host-a",
        backend_handle={"launch_dir": str(launch_dir), "pid": 1},
    )
    return Shipping(session_factory, compute_settings, run["id"], launch_dir)


async def api_log(
    client: httpx.AsyncClient, team: Any, run_id: uuid.UUID, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/runs/{run_id}/log", params=params, headers=team.headers("viewer")
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestShipping:
    async def test_a_live_log_is_shipped_as_it_grows_never_twice_nor_half_a_line(
        self, shipping: Shipping, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        shipping.append("one\ntwo\nhalf")  # Nextflow is writing its third line
        await shipping.ship()
        first = await api_log(compute_client, team, shipping.run_id)
        await shipping.ship()  # nothing new: nothing shipped
        shipping.append(" done\nfour\n")
        shipping.append("console\n", name="console.log")
        await shipping.ship()
        second = await api_log(compute_client, team, shipping.run_id)
        shipping.append("last, no newline")
        await shipping.ship(final=True)  # the run ended: its last line too
        final = await api_log(compute_client, team, shipping.run_id)
        console = await api_log(compute_client, team, shipping.run_id, source="console")

        assert (first["lines"], first["count"]) == (["one", "two"], 2)
        assert second["lines"] == ["one", "two", "half done", "four"]
        assert final["lines"] == ["one", "two", "half done", "four", "last, no newline"]
        assert console["lines"] == ["console"]
        assert await shipping.chunks() == [
            ("console", 0, 0), ("nextflow", 0, 0), ("nextflow", 1, 2), ("nextflow", 2, 4),
        ]  # fmt: skip

    async def test_each_pass_reads_from_where_the_last_one_ended_not_from_the_start(
        self, shipping: Shipping, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        shipping.append("one\ntwo\n")
        await shipping.ship()
        # What was shipped is not read again: rewritten in place (same bytes, now two lines),
        # it would shift a reader that counts lines from the start.
        path = shipping.launch_dir / ".nextflow.log"
        path.write_bytes(b"o\nn\n" + path.read_bytes()[4:])
        shipping.append("three\n")
        await shipping.ship()

        log = await api_log(compute_client, team, shipping.run_id)

        assert log["lines"] == ["one", "two", "three"]

    async def test_a_log_shipped_before_offsets_were_kept_goes_on_after_its_lines(
        self, shipping: Shipping, session_factory: Any, compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:  # fmt: skip
        async with session_factory() as session, session.begin():
            session.add(RunLogChunk(run_id=shipping.run_id, source="nextflow", seq=0,
                                    first_line=0, lines=["one", "two"], byte_count=8,
                                    truncated=False, file_offset=None))  # fmt: skip
        shipping.append("one\ntwo\nthree\n")
        await shipping.ship()
        shipping.append("four\n")
        await shipping.ship()

        log = await api_log(compute_client, team, shipping.run_id)

        assert log["lines"] == ["one", "two", "three", "four"]

    async def test_a_long_log_is_paged_across_chunks(
        self, shipping: Shipping, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        shipping.append("".join(f"line {n}\n" for n in range(2500)))
        await shipping.ship(final=True)

        page = await api_log(compute_client, team, shipping.run_id, offset=995, limit=1010)

        assert page["count"] == 2500
        assert page["lines"] == [f"line {n}" for n in range(995, 2005)]
        assert [seq for _, seq, _ in await shipping.chunks()] == [0, 1, 2]

    async def test_a_log_past_the_bound_is_cut_with_a_line_that_says_where_the_rest_is(
        self,
        shipping: Shipping,
        session_factory: Any,
        compute_settings: Settings,
        compute_client: httpx.AsyncClient,
        team: Any,
    ) -> None:
        settings = compute_settings.model_copy(update={"LOG_MAX_BYTES": 1024})
        shipping.shipper = LogShipper(session_factory, settings)
        shipping.append("".join(f"{n:09d} of the long log\n" for n in range(100)))  # 26 B each
        await shipping.ship()
        shipping.append("more\n" * 10)
        await shipping.ship(final=True)

        log = await api_log(compute_client, team, shipping.run_id, limit=500)

        assert log["count"] == 40
        assert log["lines"][:39] == [f"{n:09d} of the long log" for n in range(39)]
        assert log["lines"][39] == (
            "[nfhub] The log is cut here, at COMPUTE_LOG_MAX_BYTES (1024 bytes); the whole "
            f"log is in {shipping.launch_dir} on host-a."
        )

    async def test_secrets_are_redacted_before_they_leave_the_host(
        self, shipping: Shipping, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        shipping.append("weblog at https://hub.example/events?token=s3cr3t-value&x=1\n")
        await shipping.ship(final=True)

        log = await api_log(compute_client, team, shipping.run_id)

        assert log["lines"] == ["weblog at https://hub.example/events?token=[redacted]&x=1"]


class TestReadingFromAnOffset:
    @pytest.mark.parametrize("block", [5, 16, 64 * 1024])
    async def test_lines_read_in_pieces_are_the_files_lines_whatever_the_block_size(
        self, block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(launchdir, "READ_BLOCK_BYTES", block)
        lines = ["", "short", "a line longer than the smaller blocks", "x" * 40, "é ünïcode", ""]
        (tmp_path / ".nextflow.log").write_bytes(("\n".join(lines) + "\nhalf").encode())

        read: list[str] = []
        start, passes = 0, 0
        while True:
            chunk = await launchdir.read_log(tmp_path, source="nextflow", start=start, limit=2)
            read.extend(chunk.lines)
            start, passes = chunk.end, passes + 1
            if chunk.at_end:
                break
        last = await launchdir.read_log(
            tmp_path, source="nextflow", start=start, limit=2, final=True
        )

        assert read == lines and passes >= 3  # 2 lines a read; at most one more to see the end
        assert start == len(("\n".join(lines) + "\n").encode())
        assert (last.lines, last.at_end) == (["half"], True)
