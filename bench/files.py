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
import fcntl
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
from common import (
    Stack,
    free_port,
    hammer,
    pin_load_generator,
    pin_server,
    request_bytes,
    stack,
    wait_ready,
)

from nfhub_cli.api import Api
from nfhub_cli.config import Config
from nfhub_cli.transfer import ResumeStore, download, upload
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


def timed(step: Callable[[], object], target: Path | None = None) -> tuple[float, float]:
    """Seconds until ``step`` returned (its file in the page cache), and until ``target`` was
    also flushed to the disk."""
    started = time.perf_counter()
    step()
    cached = time.perf_counter() - started
    if target is not None:
        flush(target)
    return cached, time.perf_counter() - started


NGINX_CONFIG = """\
daemon off;
worker_processes 1;
{user}pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    client_max_body_size 0;
    client_body_temp_path {root}/files/.incoming;
    server {{
        listen 127.0.0.1:{port};
        root {root}/files;
        location / {{ dav_methods PUT; }}
    }}
}}
"""


# The sender's side of the loopback ceiling: the file into the socket by sendfile, in the
# kernel, once the receiver says go (so neither the interpreter's start nor the connection is
# timed).
LOOPBACK_SENDER = """\
import os, socket, sys
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as connection:
    with open(sys.argv[2], "rb") as source:
        connection.recv(1)
        size, sent = os.fstat(source.fileno()).st_size, 0
        while sent < size:
            sent += os.sendfile(connection.fileno(), source.fileno(), sent, size - sent)
"""


def loopback(source: Path, target: Path, *, read_size: int | None) -> tuple[float, float]:
    """``source`` into ``target`` over loopback TCP with no HTTP and nothing done to the
    bytes: the sender's sendfile (pinned where the servers run), and here a splice from the
    socket into the file (``read_size`` None: no copy in user space at all) or a recv and a
    write of up to ``read_size`` at a time (what a client that writes its file does: curl -o
    writes 4-16 KiB at a time). No server on this machine moves a file faster than the
    splice, so it says how much of the plain copy any transfer through the network stack can
    reach here; the recv and write, how much one that copies through user space can. Timed as
    ``timed`` does."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        sender = subprocess.Popen([sys.executable, "-c", LOOPBACK_SENDER, str(port), str(source)])
        pin_server(sender.pid)
        connection, _ = listener.accept()
        with connection, target.open("wb", buffering=0) as out:
            started = time.perf_counter()
            connection.sendall(b"g")
            if read_size is None:
                pipe_out, pipe_in = os.pipe()
                try:
                    fcntl.fcntl(pipe_in, fcntl.F_SETPIPE_SZ, CHUNK)
                    while count := os.splice(connection.fileno(), pipe_in, CHUNK):
                        while count:
                            count -= os.splice(pipe_out, out.fileno(), count)
                finally:
                    os.close(pipe_out)
                    os.close(pipe_in)
            else:
                buffer = bytearray(read_size)
                view = memoryview(buffer)
                while count := connection.recv_into(buffer):
                    out.write(view[:count])
            cached = time.perf_counter() - started
            os.fsync(out.fileno())
            durable = time.perf_counter() - started
    if sender.wait() != 0 or target.stat().st_size != source.stat().st_size:
        raise SystemExit("the loopback sender failed")
    return cached, durable


def start_nginx(running: Stack, port: int) -> str | None:
    """nginx serving and taking files under the bench's folder, on the servers' cores; None
    when nginx is not installed. It writes no fsync of its own: the step's timing flushes the
    file it wrote, as it does the copy's."""
    executable = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if executable is None:
        return None
    root = running.workdir / "nginx"
    (root / "files" / ".incoming").mkdir(parents=True)
    # As root, nginx's workers would run as nobody, who cannot write in the bench's folder.
    user = "user root;\n" if os.geteuid() == 0 else ""
    config = root / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(user=user, root=root, port=port))
    log = root / "nginx.log"
    process = subprocess.Popen(
        [executable, "-c", str(config), "-p", str(root)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    running.processes.append(process)
    pin_server(process.pid)
    url = f"http://127.0.0.1:{port}"
    wait_ready(f"{url}/healthz", process, log)
    return url


def transfer_round(
    base: str,
    admin_url: str,
    headers: dict[str, str],
    source: Path,
    path: str,
    workdir: Path,
    floors: dict[str, tuple[str, Path | None]],
    *,
    turn: int,
) -> dict[str, tuple[float, float]]:
    """One round: the copy, the loopback ceiling's three ways and the uploads (curl, nfhub's
    client in parts); the downloads (curl, nfhub's client); a download into /dev/null. Each
    curl step also goes through each of ``floors`` ({name: (URL, the file its upload writes
    when the server does not flush it itself)}). Every step starts just after ``settle`` freed
    as much page cache as it will fill, and the copy takes its turn among the uploads, so no
    step owes its speed to its place in the round. Each writes a new file and starts with no
    dirty pages left by the one before (else the kernel's writeback of the last gigabyte
    throttles whichever comes next)."""
    size = source.stat().st_size
    target = workdir / "target.bin"
    timings: dict[str, tuple[float, float]] = {}
    zeros = bytes(CHUNK)

    def fresh_target() -> None:
        target.unlink(missing_ok=True)
        os.sync()

    def settle() -> None:
        """Free ``size`` bytes of page cache just before a step. On this VM, memory the guest
        has not touched lately costs ~2.6 s of system time per GiB to hand out (the host backs
        it again), while memory freed a moment ago is cheap: unsettled, whichever step came
        later in a round met the dear kind (the copy ran at 1.5 GiB/s first in a round and
        0.5 GiB/s later), settled every step meets the cheap kind and the ratios hold still."""
        scratch = workdir / "settle.bin"
        with scratch.open("wb") as handle:
            for _ in range(size // CHUNK):
                handle.write(zeros)
        scratch.unlink()
        os.sync()

    fresh_target()

    def copy() -> tuple[float, float]:
        timing = timed(lambda: shutil.copyfile(source, target), target)
        fresh_target()
        return timing

    def through_loopback(read_size: int | None) -> Callable[[], tuple[float, float]]:
        def step() -> tuple[float, float]:
            timing = loopback(source, target, read_size=read_size)
            fresh_target()
            return timing

        return step

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
        ticket = api.post("/api/v1/files/upload-url", json={"path": path, "size": size})
        ticket.raise_for_status()
        url = ticket.json()["url"]
        store = ResumeStore(workdir / "uploads.json")

        def put(url: str) -> list[str]:
            return ["curl", "-sSf", "-o", "/dev/null", "-T", str(source), url]

        def get(url: str) -> list[str]:
            return ["curl", "-sSf", "-o", str(target), url]

        def upload_step(
            command: list[str], written: Path | None = None
        ) -> Callable[[], tuple[float, float]]:
            return lambda: timed(lambda: subprocess.run(command, check=True), written)

        def download_step(
            client_name: str, fetch: Callable[[], object]
        ) -> Callable[[], tuple[float, float]]:
            def step() -> tuple[float, float]:
                timing = timed(fetch, target)
                if target.stat().st_size != size:
                    raise SystemExit(f"{client_name}: the downloaded size differs")
                fresh_target()
                return timing

            return step

        def nfhub_upload() -> None:
            """`nfhub files upload`: in parts, four at a time; answered once on the disk."""
            upload(client, source, "parts.bin", store=store)

        def curl(command: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(command, check=True)

        def in_turn(steps: list[tuple[str, Callable[[], tuple[float, float]]]]) -> None:
            """Every client and server of a direction one after the other, each settled first,
            the first turning by round: no step always finds the machine as the one before
            it left it."""
            first = turn % len(steps)
            for name, step in steps[first:] + steps[:first]:
                settle()
                timings[name] = step()

        in_turn(  # ours answers only once the file is on the disk (FILES_LOCAL_FSYNC)
            [("copy", copy), ("upload", upload_step(put(url)))]
            + [
                ("splice", through_loopback(None)),
                ("recv", through_loopback(CHUNK)),
                ("recv small", through_loopback(16 * 1024)),
            ]
            + [
                (f"{name} up", upload_step(put(f"{floor}/{path}"), written))
                for name, (floor, written) in floors.items()
            ]
            + [("nfhub up", lambda: timed(nfhub_upload))]
        )
        api.delete("/api/v1/files", params={"path": "parts.bin"}).raise_for_status()
        link = api.get("/api/v1/files/download-url", params={"path": path})
        link.raise_for_status()
        url = link.json()["url"]
        in_turn(
            [("download", download_step("curl", curl(get(url))))]
            + [
                (f"{name} down", download_step(f"curl via {name}", curl(get(f"{floor}/{path}"))))
                for name, (floor, _) in floors.items()
            ]
            # `nfhub files download` (it flushes the file itself).
            + [("nfhub", download_step("nfhub", lambda: download(client, path, target)))]
        )
        # What the service sends when no client writes it anywhere.
        curl_discard = ["curl", "-sSf", "-o", "/dev/null", url]
        settle()
        timings["sent"] = timed(lambda: subprocess.run(curl_discard, check=True))
        api.delete("/api/v1/files", params={"path": path}).raise_for_status()
    return timings


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


def main() -> None:
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
    args = parser.parse_args()
    size = args.size_mib * CHUNK

    with (
        tempfile.TemporaryDirectory(prefix="nfhub-bench-") as tmp,
        stack(Path(tmp), migrations=[migrate_files]) as running,
    ):
        workdir = Path(tmp)
        storage = workdir / "storage"
        files_port, guarded_port, floor_port = free_port(), free_port(), free_port()
        base = f"http://127.0.0.1:{files_port}"
        files = running.start(
            "files",
            "nfhub_files.main:create_app",
            files_port,
            {"FILES_LOCAL_ROOT": str(storage), "FILES_URL": base},
        )
        running.start("guarded", "apps:guarded_app", guarded_port)
        running.start(
            "floor",
            "apps:transfer_floor_app",
            floor_port,
            {"BENCH_FLOOR_ROOT": str(workdir / "floor")},
        )
        floors: dict[str, tuple[str, Path | None]] = {
            "floor": (f"http://127.0.0.1:{floor_port}", None)
        }
        nginx = start_nginx(running, free_port())
        if nginx is not None:
            floors["nginx"] = (nginx, workdir / "nginx" / "files" / "bench.bin")

        # 1. Large file through signed URLs vs a plain copy on the same disk.
        source = workdir / "source.bin"
        write_source(source, size)
        rounds: list[dict[str, tuple[float, float]]] = []
        growth: list[float] = []
        for round_number in range(args.transfer_rounds):
            with PeakRss(files.pid) as rss:
                rounds.append(
                    transfer_round(
                        base,
                        running.admin_url,
                        running.headers,
                        source,
                        "bench.bin",
                        workdir,
                        floors,
                        turn=round_number,
                    )
                )
            growth.append(rss.growth_mib)
            if args.verbose:
                print(
                    "   round:",
                    ", ".join(
                        f"{name} {size / cached / 2**20:.0f}/{size / durable / 2**20:.0f}"
                        for name, (cached, durable) in rounds[-1].items()
                    ),
                    "MiB/s (page cache/disk)",
                )
        print(
            f"1. {args.size_mib} MiB through signed URLs (local backend), {args.transfer_rounds} "
            "rounds, each step until its file is on the disk; ratio to the same round's copy "
            "(this disk's speed doubles or halves between minutes), median (range)"
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
        print(f"   files service peak RSS growth {max(growth):.1f} MiB (target < 64 MiB)")

        # 2. Many uploads at once, into the service as configured and into a bounded one.
        bounded_port = free_port()
        bounded_base = f"http://127.0.0.1:{bounded_port}"
        bound = args.upload_memory_mib * CHUNK
        bounded = running.start(
            "files-bounded",
            "nfhub_files.main:create_app",
            bounded_port,
            {
                "FILES_LOCAL_ROOT": str(storage),
                "FILES_URL": bounded_base,
                "FILES_LOCAL_UPLOAD_MEMORY_BYTES": str(bound),
            },
        )
        small = workdir / "small.bin"
        write_source(small, args.concurrent_mib * CHUNK)
        count = args.concurrent_uploads
        results: dict[str, list[tuple[float, float]]] = {"configured": [], "bounded": []}
        for round_number in range(3):  # in turn, the first alternating
            pair = [("configured", base, files.pid), ("bounded", bounded_base, bounded.pid)]
            for name, url, pid in pair[:: 1 if round_number % 2 == 0 else -1]:
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
            print(
                f"   {label:<24} {total_mib / seconds:6.0f} MiB/s   peak RSS growth {peak:6.1f} MiB"
            )
        ratios = [
            configured[0] / bounded_run[0]
            for configured, bounded_run in zip(
                results["configured"], results["bounded"], strict=True
            )
        ]
        print(
            f"   bounded vs as configured: throughput ratio {statistics.median(ratios):4.2f} "
            f"({min(ratios):4.2f}-{max(ratios):4.2f})"
        )

        # 3. Signed URL issuance vs a bare authenticated endpoint.
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
            contenders = [(sign_rates, files_port, sign), (bare_rates, guarded_port, bare)]
            for rates, port, request in contenders[:: 1 if round_number % 2 == 0 else -1]:
                rates.append(asyncio.run(hammer(port, request, args.seconds, 16)))
        ratios = [signed / plain for signed, plain in zip(sign_rates, bare_rates, strict=True)]
        print(f"3. signed URL issuance, {args.rounds} rounds x {args.seconds:g} s")
        print(f"   bare authenticated endpoint {statistics.median(bare_rates):8.0f} req/s")
        print(
            f"   GET /files/download-url     {statistics.median(sign_rates):8.0f} URLs/s   ratio "
            f"{statistics.median(ratios):4.2f} ({min(ratios):4.2f}-{max(ratios):4.2f}, "
            "target 0.8)"
        )

        # 4. Listing a big folder page by page.
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
        print(f"4. listing {args.objects} objects, {limit} per page, median of 5")
        print(f"   first page {first * 1000:7.1f} ms, last page {last * 1000:7.1f} ms, "
              f"last/first {last / first:4.2f} (target within 2x)")  # fmt: skip


if __name__ == "__main__":
    main()
