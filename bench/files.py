"""Files service benchmarks, each a ratio against a baseline measured in the same run.

    uv run python bench/files.py [--size-mib 1024] [--objects 100000] [--transfer-rounds 5]
        [--rounds 48] [--seconds 0.5]

1. Upload and download of one large file through the local backend's signed URLs vs a plain
   file copy of the same bytes on the same disk, each timed until its file is on the disk
   (the upload's 200 comes after the service's fsync; the copy and the download are followed
   by one); peak RSS growth of the files service. Each round also prints the copy and the
   download timed only until the page cache holds them.
2. Signed URL issuance (GET /files/download-url) vs a bare authenticated endpoint
   (bench/apps.py guarded_app: same auth, no storage), in many short paired rounds with the
   load generator on its own core, as in bench/auth.py.
3. Listing a folder of many objects page by page: first vs last page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from common import free_port, hammer, pin_load_generator, request_bytes, stack

from nfhub_files.migrate import migrate as migrate_files

CHUNK = 1024 * 1024


def write_source(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with path.open("wb") as handle:
        for _ in range(size // CHUNK):
            handle.write(block)


class PeakRss:
    """Samples a process's RSS every 20 ms while active."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.baseline = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.baseline) / 2**20


def flush(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def copy(source: Path, target: Path) -> tuple[float, float]:
    """Seconds until the copy is in the page cache, and until it is on the disk."""
    started = time.perf_counter()
    shutil.copyfile(source, target)
    cached = time.perf_counter() - started
    flush(target)
    return cached, time.perf_counter() - started


def transfer(
    base: str, headers: dict[str, str], source: Path, path: str, target: Path
) -> tuple[float, float, float]:
    """Seconds to upload ``source`` to ``path`` and to download it back into ``target``
    (until in the page cache, and until on the disk).

    Both write a new file, as the copy does: replacing a gigabyte file first frees its pages,
    which would be timed too.
    """
    size = source.stat().st_size
    with httpx.Client(base_url=base, headers=headers, timeout=600) as api:
        ticket = api.post("/api/v1/files/upload-url", json={"path": path, "size": size})
        ticket.raise_for_status()
        # curl, as a lab's script would use: a Python client would be the bottleneck here.
        started = time.perf_counter()
        subprocess.run(
            ["curl", "-sSf", "-o", "/dev/null", "-T", str(source), ticket.json()["url"]], check=True
        )
        upload = time.perf_counter() - started
        link = api.get("/api/v1/files/download-url", params={"path": path})
        link.raise_for_status()
        os.sync()
        started = time.perf_counter()
        subprocess.run(["curl", "-sSf", "-o", str(target), link.json()["url"]], check=True)
        download_cached = time.perf_counter() - started
        flush(target)
        download = time.perf_counter() - started
        if target.stat().st_size != size:
            raise SystemExit("downloaded size differs")
        target.unlink()
        api.delete("/api/v1/files", params={"path": path}).raise_for_status()
    return upload, download_cached, download


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--transfer-rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="one issuance measurement")
    parser.add_argument("--rounds", type=int, default=48, help="issuance rounds")
    args = parser.parse_args()
    size = args.size_mib * CHUNK

    with (
        tempfile.TemporaryDirectory(prefix="nfhub-bench-") as tmp,
        stack(Path(tmp), migrations=[migrate_files]) as running,
    ):
        workdir = Path(tmp)
        storage = workdir / "storage"
        files_port, guarded_port = free_port(), free_port()
        base = f"http://127.0.0.1:{files_port}"
        files = running.start(
            "files",
            "nfhub_files.main:create_app",
            files_port,
            {"FILES_LOCAL_ROOT": str(storage), "FILES_URL": base},
        )
        running.start("guarded", "apps:guarded_app", guarded_port)

        # 1. Large file through signed URLs vs a plain copy on the same disk.
        source = workdir / "source.bin"
        write_source(source, size)
        copies_cached, copies, uploads, downloads_cached, downloads, growth = ([] for _ in range(6))
        for round_number in range(args.transfer_rounds):
            copy_target = workdir / f"copy-{round_number}.bin"
            # Each timed step starts with no dirty pages left by the one before: otherwise
            # the kernel's writeback of the last gigabyte throttles whichever step comes next.
            os.sync()
            copy_cached, copy_durable = copy(source, copy_target)
            copies_cached.append(copy_cached)
            copies.append(copy_durable)
            copy_target.unlink()
            os.sync()
            with PeakRss(files.pid) as rss:
                upload, download_cached, download = transfer(
                    base, running.headers, source, "bench.bin", workdir / "downloaded.bin"
                )
            uploads.append(upload)
            downloads_cached.append(download_cached)
            downloads.append(download)
            growth.append(rss.growth_mib)
        print(
            f"1. {args.size_mib} MiB through signed URLs (local backend), "
            f"{args.transfer_rounds} rounds; ratio to the same round's copy, median (range)"
        )
        for label, seconds, baseline in (
            ("plain file copy", copies, copies),
            ("upload (PUT)", uploads, copies),
            ("download (GET)", downloads, copies),
            ("copy, cached", copies_cached, copies_cached),
            ("download, cached", downloads_cached, copies_cached),
        ):
            # This disk's speed doubles or halves between minutes: each round's steps are
            # compared with that round's copy.
            ratios = [base / took for base, took in zip(baseline, seconds, strict=True)]
            rate = size / statistics.median(seconds) / 2**20
            print(
                f"   {label:<17} {rate:8.0f} MiB/s   ratio {statistics.median(ratios):4.2f} "
                f"({min(ratios):4.2f}-{max(ratios):4.2f})"
            )
        print("   (the first three until on the disk, target 0.8; the cached ones for context)")
        print(f"   files service peak RSS growth {max(growth):.1f} MiB (target < 64 MiB)")

        # 2. Signed URL issuance vs a bare authenticated endpoint.
        project_folder = storage / "projects" / running.project_id
        (project_folder / "bench.bin").write_bytes(b"signed, not downloaded")
        pin_load_generator()
        sign = request_bytes("/api/v1/files/download-url?path=bench.bin", running.headers)
        bare = request_bytes("/api/v1/whoami", running.headers)
        asyncio.run(hammer(files_port, sign, 1.0, 16))
        asyncio.run(hammer(guarded_port, bare, 1.0, 16))
        sign_rates: list[float] = []
        bare_rates: list[float] = []
        for round_number in range(args.rounds):
            # Back to back, alternating which goes first: each round's ratio compares figures
            # taken under the same machine load (it swings by half from minute to minute).
            pair = [(sign_rates, files_port, sign), (bare_rates, guarded_port, bare)]
            for rates, port, request in pair[:: 1 if round_number % 2 == 0 else -1]:
                rates.append(asyncio.run(hammer(port, request, args.seconds, 16)))
        ratios = [signed / plain for signed, plain in zip(sign_rates, bare_rates, strict=True)]
        print(f"2. signed URL issuance, {args.rounds} rounds x {args.seconds:g} s")
        print(f"   bare authenticated endpoint {statistics.median(bare_rates):8.0f} req/s")
        print(
            f"   GET /files/download-url     {statistics.median(sign_rates):8.0f} URLs/s   ratio "
            f"{statistics.median(ratios):4.2f} ({min(ratios):4.2f}-{max(ratios):4.2f}, "
            "target 0.8)"
        )

        # 3. Listing a big folder page by page.
        folder = project_folder / "big"
        folder.mkdir(parents=True)
        for index in range(args.objects):
            (folder / f"sample-{index:07d}.fastq.gz").touch()
        limit = 500
        last_offset = (args.objects - 1) // limit * limit
        timings: dict[int, list[float]] = {0: [], last_offset: []}
        with httpx.Client(base_url=base, headers=running.headers, timeout=120) as api:
            for _ in range(5):
                for offset in timings:
                    started = time.perf_counter()
                    page = api.get(
                        "/api/v1/files", params={"path": "big/", "limit": limit, "offset": offset}
                    )
                    timings[offset].append(time.perf_counter() - started)
                    page.raise_for_status()
        first = statistics.median(timings[0])
        last = statistics.median(timings[last_offset])
        print(f"3. listing {args.objects} objects, {limit} per page, median of 5")
        print(f"   first page {first * 1000:7.1f} ms, last page {last * 1000:7.1f} ms, "
              f"last/first {last / first:4.2f} (target within 2x)")  # fmt: skip


if __name__ == "__main__":
    main()
