"""One round of bench/files.py's large-file transfers: the copy, the loopback ceiling, the
uploads and the downloads of every client and server, each timed on a settled machine."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import rotated
from files_baselines import loopback
from files_measure import CHUNK, timed

from nfhub_cli.api import Api
from nfhub_cli.config import Config
from nfhub_cli.transfer import ResumeStore, download, upload

# (seconds until in the page cache, seconds until on the disk)
Timing = tuple[float, float]
Step = Callable[[], Timing]
Steps = list[tuple[str, Step]]
# {name: (URL, the file its upload writes when the server does not flush it itself)}
Floors = dict[str, tuple[str, Path | None]]


@dataclass
class Disk:
    """The round's files: ``source``, read by every step, and ``target``, which each step that
    writes a file writes anew."""

    source: Path
    workdir: Path
    size: int = field(init=False)

    def __post_init__(self) -> None:
        self.size = self.source.stat().st_size

    @property
    def target(self) -> Path:
        return self.workdir / "target.bin"

    def fresh_target(self) -> None:
        self.target.unlink(missing_ok=True)
        os.sync()

    def settle(self) -> None:
        """Free ``size`` bytes of page cache just before a step. On this VM, memory the guest
        has not touched lately costs ~2.6 s of system time per GiB to hand out (the host backs
        it again), while memory freed a moment ago is cheap: unsettled, whichever step came
        later in a round met the dear kind (the copy ran at 1.5 GiB/s first in a round and
        0.5 GiB/s later), settled every step meets the cheap kind and the ratios hold still."""
        zeros = bytes(CHUNK)
        scratch = self.workdir / "settle.bin"
        with scratch.open("wb") as handle:
            for _ in range(self.size // CHUNK):
                handle.write(zeros)
        scratch.unlink()
        os.sync()


def in_turn(disk: Disk, steps: Steps, turn: int) -> dict[str, Timing]:
    """Every client and server of a direction one after the other, each settled first, the
    first turning by round: no step always finds the machine as the one before it left it."""
    timings: dict[str, Timing] = {}
    for name, step in rotated(steps, turn):
        disk.settle()
        timings[name] = step()
    return timings


def copy_step(disk: Disk) -> Step:
    def step() -> Timing:
        timing = timed(lambda: shutil.copyfile(disk.source, disk.target), disk.target)
        disk.fresh_target()
        return timing

    return step


def loopback_step(disk: Disk, read_size: int | None) -> Step:
    def step() -> Timing:
        timing = loopback(disk.source, disk.target, read_size=read_size)
        disk.fresh_target()
        return timing

    return step


def run(command: list[str]) -> Callable[[], object]:
    return lambda: subprocess.run(command, check=True)


def upload_step(command: list[str], written: Path | None = None) -> Step:
    return lambda: timed(run(command), written)


def download_step(disk: Disk, client_name: str, fetch: Callable[[], object]) -> Step:
    def step() -> Timing:
        timing = timed(fetch, disk.target)
        if disk.target.stat().st_size != disk.size:
            raise SystemExit(f"{client_name}: the downloaded size differs")
        disk.fresh_target()
        return timing

    return step


def upload_steps(disk: Disk, url: str, path: str, floors: Floors, client: Api) -> Steps:
    """The copy, curl -T into ours (it answers only once the file is on the disk:
    FILES_LOCAL_FSYNC) and into each floor, the loopback ceiling's three ways, and `nfhub
    files upload` (in parts, four at a time; answered once on the disk)."""

    def put(url: str) -> list[str]:
        return ["curl", "-sSf", "-o", "/dev/null", "-T", str(disk.source), url]

    store = ResumeStore(disk.workdir / "uploads.json")

    def nfhub_upload() -> Timing:
        return timed(lambda: upload(client, disk.source, "parts.bin", store=store))

    return (
        [("copy", copy_step(disk)), ("upload", upload_step(put(url)))]
        + [
            ("splice", loopback_step(disk, None)),
            ("recv", loopback_step(disk, CHUNK)),
            ("recv small", loopback_step(disk, 16 * 1024)),
        ]
        + [
            (f"{name} up", upload_step(put(f"{floor}/{path}"), written))
            for name, (floor, written) in floors.items()
        ]
        + [("nfhub up", nfhub_upload)]
    )


def download_steps(disk: Disk, url: str, path: str, floors: Floors, client: Api) -> Steps:
    """curl -o from ours and from each floor, and `nfhub files download` (it flushes the file
    itself)."""

    def get(url: str) -> list[str]:
        return ["curl", "-sSf", "-o", str(disk.target), url]

    return (
        [("download", download_step(disk, "curl", run(get(url))))]
        + [
            (f"{name} down", download_step(disk, f"curl via {name}", run(get(f"{floor}/{path}"))))
            for name, (floor, _) in floors.items()
        ]
        + [("nfhub", download_step(disk, "nfhub", lambda: download(client, path, disk.target)))]
    )


def transfer_round(
    disk: Disk,
    base: str,
    admin_url: str,
    headers: dict[str, str],
    path: str,
    floors: Floors,
    *,
    turn: int,
) -> dict[str, Timing]:
    """One round: the copy, the loopback ceiling's three ways and the uploads (curl, nfhub's
    client in parts); the downloads (curl, nfhub's client); a download into /dev/null. Each
    curl step also goes through each of ``floors``. Every step starts just after
    ``Disk.settle`` freed as much page cache as it will fill, and the copy takes its turn
    among the uploads, so no step owes its speed to its place in the round. Each writes a new
    file and starts with no dirty pages left by the one before (else the kernel's writeback
    of the last gigabyte throttles whichever comes next)."""
    disk.fresh_target()
    # nfhub's own client, as `nfhub files upload` / `download` run it.
    config = Config(
        urls={"admin": admin_url, "files": base},
        token=headers["Authorization"].removeprefix("Bearer "),
        project_id=headers["X-Project-ID"],
    )
    with (
        httpx.Client(base_url=base, headers=headers, timeout=600) as api,
        Api(config) as client,
    ):
        ticket = api.post("/api/v1/files/upload-url", json={"path": path, "size": disk.size})
        ticket.raise_for_status()
        steps = upload_steps(disk, ticket.json()["url"], path, floors, client)
        timings = in_turn(disk, steps, turn)
        api.delete("/api/v1/files", params={"path": "parts.bin"}).raise_for_status()
        link = api.get("/api/v1/files/download-url", params={"path": path})
        link.raise_for_status()
        url = link.json()["url"]
        timings |= in_turn(disk, download_steps(disk, url, path, floors, client), turn)
        # What the service sends when no client writes it anywhere.
        disk.settle()
        timings["sent"] = timed(run(["curl", "-sSf", "-o", "/dev/null", url]))
        api.delete("/api/v1/files", params={"path": path}).raise_for_status()
    return timings
