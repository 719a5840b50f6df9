"""Files service benchmarks, each a ratio against a baseline measured in the same run.

    uv run python bench/files.py [--size-mib 1024] [--objects 100000] [--transfer-rounds 5]
        [--rounds 48] [--seconds 0.5] [--concurrent-uploads 32] [--concurrent-mib 64]
        [--upload-memory-mib 32]

1. Upload (curl -T, and nfhub files upload in parts) and download (curl -o, and nfhub files
   download) of one large file through the local backend's signed URLs vs a plain file copy
   of the same bytes on the same disk, each timed until its file is on the disk (an upload's
   200 comes after the service's fsync; the copy and the downloads are followed by one), each
   right after as much page cache was freed as it fills, in an order that turns by round;
   peak RSS growth of the files service. Also printed, for context: the copy and the download
   until the page cache holds them, and the download into /dev/null (what the
   service sends when the client writes nothing: curl writes each socket read as it came,
   8-16 KiB, about 130,000 write calls per GiB). Beside ours, the same curl steps go through
   two floors: bench/apps.py transfer_floor_app (the least a Python app on uvicorn does), and,
   when nginx is installed (Debian's nginx-light), nginx with sendfile and its WebDAV PUT (a
   temporary file renamed into place, as ours): what a server written in C reaches here.
   Above them all, the loopback ceiling: the file sent into loopback TCP by sendfile and
   spliced from it into the new file (no HTTP, no byte copied through user space), and the
   same with recv and write of 1 MiB and of 16 KiB (as curl -o writes): what any transfer
   through the network stack can reach on this machine, and what one can whose receiver copies
   the bytes through user space, as a ratio of the copy.
2. Many uploads at once (curl -T, --concurrent-uploads of --concurrent-mib each) into the files
   service as configured and into one whose FILES_LOCAL_UPLOAD_MEMORY_BYTES is
   --upload-memory-mib: each service's peak RSS growth, and the bounded one's throughput as
   a ratio of the other's.
3. Signed URL issuance (GET /files/download-url) vs a bare authenticated endpoint
   (bench/apps.py guarded_app: same auth, no storage), in many short paired rounds with the
   load generator on its own core, as in bench/auth.py.
4. Listing a folder of many objects page by page: first vs last page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from common import (
    PeakRss,
    Stack,
    free_port,
    hammer,
    pin_load_generator,
    request_bytes,
    rotated,
    stack,
)
from files_baselines import start_nginx
from files_measure import CHUNK, write_source
from files_rounds import Disk, Floors, Timing, transfer_round

from nfhub_files.migrate import migrate as migrate_files


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--transfer-rounds", type=int, default=5)
    parser.add_argument("--verbose", action="store_true", help="print every transfer round")
    parser.add_argument("--seconds", type=float, default=0.5, help="one issuance measurement")
    parser.add_argument("--rounds", type=int, default=48, help="issuance rounds")
    parser.add_argument("--concurrent-uploads", type=int, default=32)
    parser.add_argument("--concurrent-mib", type=int, default=64, help="each concurrent upload")
    parser.add_argument("--upload-memory-mib", type=int, default=32, help="the bounded service's")
    return parser.parse_args()


@dataclass
class Bench:
    """What the four parts share: the arguments, the stack, the files service and the floors
    beside it."""

    args: argparse.Namespace
    running: Stack
    files: subprocess.Popen[bytes]
    files_port: int
    guarded_port: int
    floors: Floors
    nginx: str | None

    @property
    def workdir(self) -> Path:
        return self.running.workdir

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.files_port}"

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    @property
    def project_folder(self) -> Path:
        return self.storage / "projects" / self.running.project_id


def start_services(args: argparse.Namespace, running: Stack) -> Bench:
    """The files service, the bare authenticated app, the transfer floor and, when installed,
    nginx."""
    workdir = running.workdir
    files_port, guarded_port, floor_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{files_port}"
    files = running.start(
        "files",
        "nfhub_files.main:create_app",
        files_port,
        {"FILES_LOCAL_ROOT": str(workdir / "storage"), "FILES_URL": base},
    )
    running.start("guarded", "apps:guarded_app", guarded_port)
    running.start(
        "floor",
        "apps:transfer_floor_app",
        floor_port,
        {"BENCH_FLOOR_ROOT": str(workdir / "floor")},
    )
    floors: Floors = {"floor": (f"http://127.0.0.1:{floor_port}", None)}
    nginx = start_nginx(running, free_port())
    if nginx is not None:
        floors["nginx"] = (nginx, workdir / "nginx" / "files" / "bench.bin")
    return Bench(args, running, files, files_port, guarded_port, floors, nginx)


def bench_transfers(bench: Bench) -> None:
    """1. Large file through signed URLs vs a plain copy on the same disk."""
    args = bench.args
    source = bench.workdir / "source.bin"
    write_source(source, args.size_mib * CHUNK)
    disk = Disk(source, bench.workdir)
    rounds: list[dict[str, Timing]] = []
    growth: list[float] = []
    for round_number in range(args.transfer_rounds):
        with PeakRss(bench.files.pid) as rss:
            rounds.append(
                transfer_round(
                    disk,
                    bench.base,
                    bench.running.admin_url,
                    bench.running.headers,
                    "bench.bin",
                    bench.floors,
                    turn=round_number,
                )
            )
        growth.append(rss.growth_mib)
        if args.verbose:
            print(
                "   round:",
                ", ".join(
                    f"{name} {disk.size / cached / 2**20:.0f}/{disk.size / durable / 2**20:.0f}"
                    for name, (cached, durable) in rounds[-1].items()
                ),
                "MiB/s (page cache/disk)",
            )
    report_transfers(bench, rounds, disk.size)
    print(f"   files service peak RSS growth {max(growth):.1f} MiB (target < 64 MiB)")


def report_transfers(bench: Bench, rounds: list[dict[str, Timing]], size: int) -> None:
    """Each step's rate and its ratio to the copy, then ours against the floors and the
    ceiling, all in the same rounds."""
    print(
        f"1. {bench.args.size_mib} MiB through signed URLs (local backend), "
        f"{bench.args.transfer_rounds} rounds, each step until its file is on the disk; ratio "
        "to the same round's copy (this disk's speed doubles or halves between minutes), "
        "median (range)"
    )

    def report(label: str, name: str, baseline: str, until: int) -> None:
        """A step's median rate and its ratios to ``baseline`` in the same rounds;
        ``until`` 1 times it until on the disk, 0 until in the page cache."""
        seconds = [timings[name][until] for timings in rounds]
        ratios = [timings[baseline][until] / timings[name][until] for timings in rounds]
        rate = size / statistics.median(seconds) / 2**20
        print(
            f"   {label:<24} {rate:6.0f} MiB/s   ratio {statistics.median(ratios):4.2f} "
            f"({min(ratios):4.2f}-{max(ratios):4.2f})"
        )

    nginx = bench.nginx
    for label, name, until in (
        ("plain file copy", "copy", 1),
        ("upload (curl -T)", "upload", 1),
        ("nfhub files upload", "nfhub up", 1),
        ("download (curl -o)", "download", 1),
        ("nfhub files download", "nfhub", 1),
        ("loopback: splice", "splice", 1),
        ("loopback: recv+write", "recv", 1),
        ("loopback: 16 KiB writes", "recv small", 1),
        ("floor: upload (curl -T)", "floor up", 1),
        ("floor: download (curl)", "floor down", 1),
        *(
            [("nginx: upload (curl -T)", "nginx up", 1), ("nginx: download", "nginx down", 1)]
            if nginx is not None
            else []
        ),
        ("copy, page cache only", "copy", 0),
        ("download, page cache", "download", 0),
        ("sent to /dev/null", "sent", 0),
    ):
        report(label, name, "copy", until)
    print(
        "   vs the stack's floor (bench/apps.py transfer_floor_app: a raw ASGI app on "
        "uvicorn, no checks), same client, same round:"
    )
    report("upload (curl -T)", "upload", "floor up", 1)
    report("download (curl -o)", "download", "floor down", 1)
    print(
        "   vs the loopback ceiling (sendfile into loopback TCP, splice from it into the "
        "file: no HTTP, no copy in user space), same round:"
    )
    report("upload (curl -T)", "upload", "splice", 1)
    report("download (curl -o)", "download", "splice", 1)
    if nginx is None:
        print("   (nginx not installed: apt-get install nginx-light to compare with it)")
    else:
        print("   vs nginx (sendfile, WebDAV PUT), same client, same round:")
        report("upload (curl -T)", "upload", "nginx up", 1)
        report("download (curl -o)", "download", "nginx down", 1)


def bench_concurrent_uploads(bench: Bench) -> None:
    """2. Many uploads at once, into the service as configured and into a bounded one."""
    args, running = bench.args, bench.running
    bounded_port = free_port()
    bounded_base = f"http://127.0.0.1:{bounded_port}"
    bound = args.upload_memory_mib * CHUNK
    bounded = running.start(
        "files-bounded",
        "nfhub_files.main:create_app",
        bounded_port,
        {
            "FILES_LOCAL_ROOT": str(bench.storage),
            "FILES_URL": bounded_base,
            "FILES_LOCAL_UPLOAD_MEMORY_BYTES": str(bound),
        },
    )
    small = bench.workdir / "small.bin"
    write_source(small, args.concurrent_mib * CHUNK)
    count = args.concurrent_uploads
    results: dict[str, list[tuple[float, float]]] = {"configured": [], "bounded": []}
    for round_number in range(3):  # in turn, the first alternating
        pair = [("configured", bench.base, bench.files.pid), ("bounded", bounded_base, bounded.pid)]
        for name, url, pid in rotated(pair, round_number):
            results[name].append(concurrent_uploads(url, running.headers, small, count, pid))
    total_mib = count * args.concurrent_mib
    print(
        f"2. {count} uploads of {args.concurrent_mib} MiB at once (curl -T), 3 rounds, "
        "median; peak RSS growth is the largest"
    )
    for name, label in (
        ("configured", "as configured"),
        ("bounded", f"bound {args.upload_memory_mib} MiB"),
    ):
        seconds = statistics.median(timing for timing, _ in results[name])
        peak = max(growth for _, growth in results[name])
        print(f"   {label:<24} {total_mib / seconds:6.0f} MiB/s   peak RSS growth {peak:6.1f} MiB")
    ratios = [
        configured[0] / bounded_run[0]
        for configured, bounded_run in zip(results["configured"], results["bounded"], strict=True)
    ]
    print(
        f"   bounded vs as configured: throughput ratio {statistics.median(ratios):4.2f} "
        f"({min(ratios):4.2f}-{max(ratios):4.2f})"
    )


def concurrent_uploads(
    base: str, headers: dict[str, str], source: Path, count: int, pid: int
) -> tuple[float, float]:
    """``count`` curl uploads of ``source`` at once into the service at ``base`` (process
    ``pid``): (seconds until all were answered, the service's peak RSS growth in MiB)."""
    size = source.stat().st_size
    with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
        urls = []
        for number in range(count):
            ticket = api.post(
                "/api/v1/files/upload-url", json={"path": f"many/{number}.bin", "size": size}
            )
            ticket.raise_for_status()
            urls.append(ticket.json()["url"])
        os.sync()
        with PeakRss(pid) as rss:
            started = time.perf_counter()
            curls = [
                subprocess.Popen(["curl", "-sSf", "-o", "/dev/null", "-T", str(source), url])
                for url in urls
            ]
            if any(curl.wait() != 0 for curl in curls):
                raise SystemExit("a concurrent upload failed")
            seconds = time.perf_counter() - started
        api.delete("/api/v1/files", params={"path": "many"}).raise_for_status()
    return seconds, rss.growth_mib


def bench_issuance(bench: Bench) -> None:
    """3. Signed URL issuance vs a bare authenticated endpoint."""
    args, headers = bench.args, bench.running.headers
    (bench.project_folder / "bench.bin").write_bytes(b"signed, not downloaded")
    pin_load_generator()
    sign = request_bytes("/api/v1/files/download-url?path=bench.bin", headers)
    bare = request_bytes("/api/v1/whoami", headers)
    asyncio.run(hammer(bench.files_port, sign, 1.0, 16))
    asyncio.run(hammer(bench.guarded_port, bare, 1.0, 16))
    sign_rates: list[float] = []
    bare_rates: list[float] = []
    for round_number in range(args.rounds):
        # Back to back, alternating which goes first: each round's ratio compares figures
        # taken under the same machine load (it swings by half from minute to minute).
        contenders = [
            (sign_rates, bench.files_port, sign),
            (bare_rates, bench.guarded_port, bare),
        ]
        for rates, port, request in rotated(contenders, round_number):
            rates.append(asyncio.run(hammer(port, request, args.seconds, 16)))
    ratios = [signed / plain for signed, plain in zip(sign_rates, bare_rates, strict=True)]
    print(f"3. signed URL issuance, {args.rounds} rounds x {args.seconds:g} s")
    print(f"   bare authenticated endpoint {statistics.median(bare_rates):8.0f} req/s")
    print(
        f"   GET /files/download-url     {statistics.median(sign_rates):8.0f} URLs/s   ratio "
        f"{statistics.median(ratios):4.2f} ({min(ratios):4.2f}-{max(ratios):4.2f}, "
        "target 0.8)"
    )


def bench_listing(bench: Bench) -> None:
    """4. Listing a big folder page by page."""
    objects = bench.args.objects
    folder = bench.project_folder / "big"
    folder.mkdir(parents=True)
    for index in range(objects):
        (folder / f"sample-{index:07d}.fastq.gz").touch()
    limit = 500
    last_offset = (objects - 1) // limit * limit
    timings: dict[int, list[float]] = {0: [], last_offset: []}
    with httpx.Client(base_url=bench.base, headers=bench.running.headers, timeout=120) as api:
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
    print(f"4. listing {objects} objects, {limit} per page, median of 5")
    print(f"   first page {first * 1000:7.1f} ms, last page {last * 1000:7.1f} ms, "
          f"last/first {last / first:4.2f} (target within 2x)")  # fmt: skip


def main() -> None:
    args = parse_args()
    with stack(migrations=[migrate_files]) as running:
        bench = start_services(args, running)
        bench_transfers(bench)
        bench_concurrent_uploads(bench)
        bench_issuance(bench)
        bench_listing(bench)


if __name__ == "__main__":
    main()
