"""GA4GH WES side by side: nfhub compute's /ga4gh/wes/v1 against sapporo 2.4.0, in one run.

    uv run python bench/wes.py [--runs 10000] [--flat 1000,10000,100000] [--seconds 5]
                               [--connections 8] [--rounds 3] [--sapporo /tmp/sapporo-venv]

sapporo (the best-known Python WES server) runs from a throw-away virtual environment of its
own, never the project's (made when missing: ``uv venv /tmp/sapporo-venv && uv pip install
--python /tmp/sapporo-venv sapporo==2.4.0``), with authentication off and its own run.sh
whose engine step does nothing, so each run finishes at once. nfhub's compute runs under
uvicorn (one process, the no-op backend, no worker: its runs stay QUEUED, which no measured
route minds). Both serve from the same cores, one at a time, and are driven by the same load
generator (keep-alive HTTP/1.1 connections, on a core of its own).

1. POST /runs: both servers are filled with ``--runs`` runs through their WES POST /runs (the
   same multipart form), each the same number: runs/s over the fill, and p50/p99.
2. GET /runs?page_size=50 (the newest page) at ``--runs`` runs, and GET /runs/{id}/status of
   runs picked in turn: requests/s and p99, for ``--seconds``, in ``--rounds`` rounds that
   alternate which server goes first; the round with the median ratio is the one reported.
   Before reading, the runs table is settled as autovacuum would settle it soon after the
   fill (VACUUM ANALYZE, a checkpoint) and the machine's dirty pages are flushed.
3. The ceiling: a bare FastAPI route, and the nfhub stack with its authentication answering
   without a database (bench/apps.py), on the same core: no WES route can beat the second,
   so ``ceiling / sapporo`` is the best ratio this machine allows right now.
4. nfhub alone: GET /runs?page_size=50 at each count of ``--flat`` (runs added in SQL beyond
   the ones posted): requests/s and p99 should stay flat.

Each read measure also gives the CPU time a request cost the server process and, for nfhub,
the PostgreSQL backends of its database: on a busy machine requests/s follows the scheduler
(nfhub needs a backend scheduled for every request, sapporo reads files in its own process),
CPU per request much less.

Targets (printed as ratios nfhub / sapporo): GET /runs >= 30x with p99 < 50 ms and flat from
1,000 to 100,000 runs; POST /runs >= 5x; status >= 1.5x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil
from common import (
    LOAD_GENERATOR_CORES,
    SERVER_CORES,
    Stack,
    free_port,
    insert_pipeline,
    pin_load_generator,
    pin_server,
    stack,
    wait_ready,
)
from sqlalchemy.engine import make_url

from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_shared.testing.database import _asyncpg_args

SAPPORO_VERSION = "2.4.0"
WES = "/ga4gh/wes/v1"
BOUNDARY = "nfhub-bench-boundary"
TARGETS = {"list": 30.0, "post": 5.0, "status": 1.5}
TARGET_LIST_P99_MS = 50.0


@dataclass
class Server:
    name: str
    port: int
    prefix: str
    headers: dict[str, str]
    workflow_url: str
    process: subprocess.Popen[bytes]
    cpu: CpuMeter


@dataclass
class Result:
    count: int
    seconds: float
    latencies_ms: list[float]
    # CPU seconds over the measure: (the server process, the database's backends of the
    # bench database; 0 for sapporo, which has none).
    cpu_seconds: tuple[float, float] | None = None

    def cpu_us(self) -> tuple[float, float]:
        server, database = self.cpu_seconds or (0.0, 0.0)
        return server / self.count * 1e6, database / self.count * 1e6

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def percentile(self, fraction: float) -> float:
        values = sorted(self.latencies_ms)
        return values[min(len(values) - 1, int(len(values) * fraction))] if values else 0.0

    def line(self, label: str) -> str:
        cpu = ""
        if self.cpu_seconds is not None:
            server, database = self.cpu_us()
            cpu = f"   CPU/req {server:5.0f} + db {database:4.0f} us"
        return (
            f"  {label:<34} {self.rate:9.1f} req/s   p50 {self.percentile(0.5):7.1f} ms   "
            f"p99 {self.percentile(0.99):7.1f} ms{cpu}   ({self.count} requests)"
        )


class CpuMeter:
    """CPU time (user + system) a measure costs the server process and, for nfhub, the
    PostgreSQL backends connected to the bench database. Per request it moves far less
    with the machine's load than requests/s does: on a busy machine compare these."""

    def __init__(self, pid: int, database: str | None) -> None:
        self.server = psutil.Process(pid)
        self.database = database

    def _backends(self) -> dict[int, float]:
        if self.database is None:
            return {}
        times = {}
        for process in psutil.process_iter(["cmdline"]):
            title = " ".join(process.info["cmdline"] or ())
            if title.startswith("postgres: ") and f" {self.database} " in title:
                with contextlib.suppress(psutil.Error):
                    times[process.pid] = sum(process.cpu_times()[:2])
        return times

    def start(self) -> tuple[float, dict[int, float]]:
        return sum(self.server.cpu_times()[:2]), self._backends()

    def since(self, started: tuple[float, dict[int, float]]) -> tuple[float, float]:
        server_before, backends_before = started
        backends = self._backends()
        database = sum(cpu - backends_before.get(pid, 0.0) for pid, cpu in backends.items())
        return sum(self.server.cpu_times()[:2]) - server_before, database


def raw_request(
    method: str, path: str, headers: dict[str, str], body: bytes = b"", content_type: str = ""
) -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    if body or method == "POST":
        lines += [f"Content-Length: {len(body)}"]
        if content_type:
            lines += [f"Content-Type: {content_type}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def multipart(fields: dict[str, str]) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + f"--{BOUNDARY}--\r\n").encode()


def post_request(server: Server) -> bytes:
    body = multipart(
        {
            "workflow_type": "NFL",
            "workflow_type_version": "DSL2",
            "workflow_engine": "nextflow",
            "workflow_url": server.workflow_url,
            "workflow_params": json.dumps({"greeting": "bench"}),
            "tags": json.dumps({"bench": "wes"}),
        }
    )
    return raw_request(
        "POST", server.prefix + "/runs", server.headers, body,
        f"multipart/form-data; boundary={BOUNDARY}",
    )  # fmt: skip


async def drive(
    port: int,
    next_request: Callable[[int], bytes],
    connections: int,
    *,
    seconds: float | None = None,
    count: int | None = None,
) -> tuple[Result, list[bytes]]:
    """Requests over ``connections`` keep-alive connections, for ``seconds`` or ``count``
    requests in all; each 200 answer's body is kept when ``count`` is given (the run ids)."""
    deadline = time.perf_counter() + (seconds if seconds is not None else 3600)
    numbers = iter(range(count if count is not None else 2**62))
    latencies: list[float] = []
    bodies: list[bytes] = []

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                number = next(numbers, None)
                if number is None:
                    return
                started = time.perf_counter()
                writer.write(next_request(number))
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                body = await reader.readexactly(length)
                latencies.append((time.perf_counter() - started) * 1000)
                if head[9:12] != b"200":
                    raise SystemExit(f"unexpected answer {head[:200]!r} {body[:300]!r}")
                if count is not None:
                    bodies.append(body)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(connections)))
    return Result(len(latencies), time.perf_counter() - started, latencies), bodies


def fill(server: Server, runs: int, connections: int) -> tuple[Result, list[str]]:
    request = post_request(server)
    result, bodies = asyncio.run(drive(server.port, lambda _: request, connections, count=runs))
    return result, [json.loads(body)["run_id"] for body in bodies]


def list_request(server: Server) -> bytes:
    return raw_request("GET", server.prefix + "/runs?page_size=50", server.headers)


def measured(server: Server, run: Callable[[], Result]) -> Result:
    started = server.cpu.start()
    result = run()
    result.cpu_seconds = server.cpu.since(started)
    return result


def measure_list(server: Server, seconds: float, connections: int) -> Result:
    request = list_request(server)
    asyncio.run(drive(server.port, lambda _: request, connections, seconds=min(seconds, 1.0)))
    return measured(
        server,
        lambda: asyncio.run(drive(server.port, lambda _: request, connections, seconds=seconds))[0],
    )


def measure_status(
    server: Server, run_ids: Sequence[str], seconds: float, connections: int
) -> Result:
    requests = [
        raw_request("GET", f"{server.prefix}/runs/{run_id}/status", server.headers)
        for run_id in run_ids
    ]
    pick = lambda number: requests[number % len(requests)]  # noqa: E731
    asyncio.run(drive(server.port, pick, connections, seconds=min(seconds, 1.0)))
    return measured(
        server, lambda: asyncio.run(drive(server.port, pick, connections, seconds=seconds))[0]
    )


# -- the two servers ---------------------------------------------------------------------------


def start_nfhub(running: Stack) -> Server:
    port = free_port()
    env = {"COMPUTE_URL": f"http://127.0.0.1:{port}", "COMPUTE_BACKEND": "noop"}
    process = running.start("compute", "nfhub_compute.main:create_app", port, env)
    database = make_url(running.database_url).database
    return Server(
        "nfhub", port, WES, running.headers, "bench-noop/1", process,
        CpuMeter(process.pid, database),
    )  # fmt: skip


async def seed_pipeline(database_url: str, project_id: str) -> uuid.UUID:
    """The registered pipeline WES launches name (bench-noop, version 1, no schema); the org."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        org_id: uuid.UUID = await connection.fetchval(
            "SELECT org_id FROM admin.projects WHERE id = $1", uuid.UUID(project_id)
        )
        await insert_pipeline(
            connection, org_id, slug="bench-noop", name="Bench", version="1",
            source_url="https://github.com/nf-core/rnaseq", revision="3.14.0",
        )  # fmt: skip
        return org_id
    finally:
        await connection.close()


async def top_up(database_url: str, project_id: str, org_id: uuid.UUID, total: int) -> int:
    """Add runs to the project in SQL until it has ``total`` (older than the posted ones, as
    history would be); the project's run count."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        have = await connection.fetchval(
            "SELECT count(*) FROM compute.runs WHERE project_id = $1", uuid.UUID(project_id)
        )
        missing = max(0, total - have)
        if missing:
            await connection.execute(
                """
                INSERT INTO compute.runs (id, project_id, org_id, pipeline_slug, pipeline_version,
                    name, nextflow_name, state, params, profiles, labels, storage_uri,
                    outdir_uri, backend, workflow, created_by, resume, wes_request, created_at,
                    updated_at)
                SELECT gen_random_uuid(), $1, $2, 'bench-noop', '1', 'history',
                    'nfhub-history-' || n, 'COMPLETE', '{}', '{}', '{}', 'file:///tmp/',
                    'file:///tmp/runs/', 'noop', '{}', 'bench', false,
                    '{"tags": {"bench": "history"}}',
                    now() - interval '1 day' - n * interval '1 second', now()
                FROM generate_series($3::bigint + 1, $3::bigint + $4::bigint) AS n
                """,
                uuid.UUID(project_id), org_id, have, missing,
            )  # fmt: skip
        return int(have + missing)
    finally:
        await connection.close()


async def settle_database(database_url: str) -> None:
    """What autovacuum does to a table soon after a burst of inserts, done now: the measures
    read a settled table (visibility map, hint bits, statistics), not the tail of the fill."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        await connection.execute("VACUUM (ANALYZE) compute.runs")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


def settle_machine(seconds: float = 3.0) -> None:
    """Flush what the fills wrote (sapporo writes a folder per run) before measuring, so
    writeback does not land in one server's measure and not in the other's."""
    os.sync()
    time.sleep(seconds)


def sapporo_run_sh(folder: Path, venv: Path) -> Path:
    """sapporo's own run.sh, its engine step (and the outputs and RO-Crate steps after it,
    each a Python process) replaced by nothing: every run finishes at once."""
    original = next((venv / "lib").glob("python3*/site-packages/sapporo/run.sh"))
    text = original.read_text()
    marker = "trap 'desc_error' ERR"
    overrides = (
        "function run_nextflow() { echo 'bench: nothing to run' >\"${stdout}\"; }\n"
        "function generate_outputs_list() { :; }\n"
        "function generate_ro_crate() { :; }\n\n"
    )
    script = folder / "run.sh"
    script.write_text(text.replace(marker, overrides + marker, 1))
    script.chmod(0o755)
    return script


def start_sapporo(folder: Path, venv: Path) -> Server:
    binary = venv / "bin" / "sapporo"
    if not binary.exists():
        raise SystemExit(
            f"sapporo is not installed at {venv}: uv venv {venv} && uv pip install --python "
            f"{venv} sapporo=={SAPPORO_VERSION}"
        )
    version = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "from importlib.metadata import version; print(version('sapporo'))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if version != SAPPORO_VERSION:
        raise SystemExit(f"{venv} has sapporo {version}, not {SAPPORO_VERSION}")
    port = free_port()
    run_dir = folder / "runs"
    run_dir.mkdir()
    log = folder / "sapporo.log"
    command = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--run-dir",
               str(run_dir), "--run-sh", str(sapporo_run_sh(folder, venv))]  # fmt: skip
    # Its own environment: nothing of the project's virtual environment leaks in.
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(folder)}
    process = subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    pin_server(process.pid)
    wait_ready(f"http://127.0.0.1:{port}/service-info", process, log)
    return Server(
        "sapporo", port, "", {}, "https://github.com/nf-core/demo", process,
        CpuMeter(process.pid, None),
    )  # fmt: skip


def wait_sapporo_done(server: Server, run_ids: Sequence[str], timeout: float = 600) -> None:
    """Until every posted run has ended (run.sh writes its state): a steady folder to read."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as client:
        for run_id in run_ids[-20:]:
            while time.monotonic() < deadline:
                state = client.get(f"/runs/{run_id}/status").json().get("state")
                if state in ("COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"):
                    break
                time.sleep(0.5)


CEILINGS = (
    ("bare FastAPI", "bare", "apps:bare_app", "/api/v1/whoami"),
    ("nfhub stack + auth, no DB", "guarded", "apps:guarded_app", "/api/v1/whoami"),
)


def measure_ceilings(running: Stack, seconds: float, connections: int) -> dict[str, Result]:
    """What a route without a database costs on the servers' cores right now: a bare FastAPI
    app, and the nfhub stack (edge, rate limit, the token and project role from the caches)
    answering a constant JSON (bench/apps.py). No WES route can do better than the second."""
    results = {}
    for label, name, target, path in CEILINGS:
        port = free_port()
        process = running.start(name, target, port)
        request = raw_request("GET", path, running.headers)
        same = lambda _, request=request: request  # noqa: E731
        asyncio.run(drive(port, same, connections, seconds=min(seconds, 1.0)))
        results[label] = asyncio.run(drive(port, same, connections, seconds=seconds))[0]
        process.terminate()
        process.wait(timeout=30)
    return results


def ratio_line(name: str, ours: Result, theirs: Result, target: float, extra: str = "") -> None:
    ratio = ours.rate / theirs.rate if theirs.rate else float("inf")
    verdict = "meets" if ratio >= target and not extra.startswith("MISS") else "MISSES"
    print(f"  {name:<34} nfhub / sapporo = {ratio:6.1f}x   target >= {target}x: {verdict}{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10000)
    parser.add_argument("--flat", default="1000,10000,100000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3,
        help="read measures alternate the servers this many times; the median round counts",
    )  # fmt: skip
    parser.add_argument(
        "--sapporo", type=Path, default=Path(tempfile.gettempdir()) / "sapporo-venv"
    )
    args = parser.parse_args()
    flat = sorted({int(part) for part in args.flat.split(",") if part})
    load = os.getloadavg()
    print(f"bench/wes.py: {args.runs} runs, {args.seconds:.0f} s per measure, "
          f"{args.connections} connections; servers on cores {sorted(SERVER_CORES)}, load "
          f"generator on {sorted(LOAD_GENERATOR_CORES)}; load average {load[0]:.2f} "
          f"{load[1]:.2f} {load[2]:.2f}")  # fmt: skip

    # A personal access token: filling sapporo with 10,000 runs outlasts an access token.
    with stack([migrate_compute], personal_token=True) as running:
        org_id = asyncio.run(seed_pipeline(running.database_url, running.project_id))
        nfhub = start_nfhub(running)
        sapporo = start_sapporo(running.workdir, args.sapporo)
        pin_load_generator()
        results: dict[str, dict[str, Result]] = {"nfhub": {}, "sapporo": {}}
        ids: dict[str, list[str]] = {"nfhub": [], "sapporo": []}
        growth: list[tuple[int, Result]] = []
        # nfhub is filled in stages, its list measured at each count of --flat on the way.
        stages = sorted({count for count in flat if count < args.runs} | {args.runs})
        print(f"nfhub: POST /runs x {args.runs} (stages {stages}) ...", flush=True)
        posts = []
        for stage in stages:
            posted, stage_ids = fill(nfhub, stage - len(ids["nfhub"]), args.connections)
            posts.append(posted)
            ids["nfhub"] += stage_ids
            if stage in flat:
                asyncio.run(settle_database(running.database_url))
                growth.append((stage, measure_list(nfhub, args.seconds, args.connections)))
        results["nfhub"]["post"] = Result(
            sum(p.count for p in posts), sum(p.seconds for p in posts),
            [ms for p in posts for ms in p.latencies_ms],
        )  # fmt: skip
        print(f"sapporo: POST /runs x {args.runs} ...", flush=True)
        results["sapporo"]["post"], ids["sapporo"] = fill(sapporo, args.runs, args.connections)
        wait_sapporo_done(sapporo, ids["sapporo"])
        asyncio.run(settle_database(running.database_url))
        settle_machine()
        rounds: dict[str, dict[str, list[Result]]] = {
            who: {"list": [], "status": []} for who in ("nfhub", "sapporo")
        }
        for number in range(1, args.rounds + 1):
            for server in (nfhub, sapporo) if number % 2 else (sapporo, nfhub):
                rounds[server.name]["list"].append(
                    measure_list(server, args.seconds, args.connections)
                )
                rounds[server.name]["status"].append(
                    measure_status(server, ids[server.name], args.seconds, args.connections)
                )
        print(f"\nread measures, round by round (servers alternating), at {args.runs} runs:")
        for name, label in (("list", "GET /runs?page_size=50"),
                            ("status", "GET /runs/{id}/status")):  # fmt: skip
            per_round = [
                ours.rate / theirs.rate if theirs.rate else float("inf")
                for ours, theirs in zip(rounds["nfhub"][name], rounds["sapporo"][name], strict=True)
            ]
            print(f"  {label:<34} nfhub / sapporo by round: "
                  + ", ".join(f"{ratio:.1f}x" for ratio in per_round))  # fmt: skip
            median = sorted(range(len(per_round)), key=per_round.__getitem__)[len(per_round) // 2]
            for who in ("nfhub", "sapporo"):
                results[who][name] = rounds[who][name][median]

        print(f"\nat {args.runs} runs each, {args.connections} connections (reads: the median "
              "round):")  # fmt: skip
        for name, label in (("post", "POST /runs (the fill)"),
                            ("list", "GET /runs?page_size=50"),
                            ("status", "GET /runs/{id}/status")):  # fmt: skip
            for who in ("nfhub", "sapporo"):
                print(results[who][name].line(f"{who:<8} {label}"))
        print("\nratios:")
        ours, theirs = results["nfhub"], results["sapporo"]
        p99 = ours["list"].percentile(0.99)
        p99_note = f" (nfhub p99 {p99:.1f} ms, target < {TARGET_LIST_P99_MS:.0f} ms: " + (
            "meets)" if p99 < TARGET_LIST_P99_MS else "MISSES)"
        )
        ratio_line("GET /runs?page_size=50", ours["list"], theirs["list"], TARGETS["list"],
                   p99_note)  # fmt: skip
        ratio_line("POST /runs", ours["post"], theirs["post"], TARGETS["post"])
        ratio_line("GET /runs/{id}/status", ours["status"], theirs["status"], TARGETS["status"])
        print("\nCPU per request, sapporo / nfhub (steadier than req/s on a busy machine; nfhub "
              "with and without its database backends' share):")  # fmt: skip
        for name, label in (("list", "GET /runs?page_size=50"),
                            ("status", "GET /runs/{id}/status")):  # fmt: skip
            ours_us, database_us = ours[name].cpu_us()
            theirs_us = theirs[name].cpu_us()[0]
            print(f"  {label:<34} {theirs_us / ours_us:6.1f}x server alone, "
                  f"{theirs_us / (ours_us + database_us):6.1f}x with the database")  # fmt: skip

        sapporo.process.terminate()
        sapporo.process.wait(timeout=30)
        ceilings = measure_ceilings(running, args.seconds, args.connections)
        print("\nthe ceiling here and now: routes without a database on the same core")
        for label, result in ceilings.items():
            print(result.line(label))
        roof = ceilings[CEILINGS[1][0]]
        for name, label in (
            ("list", "GET /runs?page_size=50"),
            ("status", "GET /runs/{id}/status"),
        ):
            reachable = roof.rate / theirs[name].rate if theirs[name].rate else float("inf")
            print(f"  {label:<34} nfhub at {ours[name].rate / roof.rate:6.1%} of the ceiling; "
                  f"the ceiling / sapporo = {reachable:.1f}x")  # fmt: skip
        print("\nnfhub GET /runs?page_size=50 as the project grows (runs beyond the posted "
              "ones added in SQL):")  # fmt: skip
        for total in flat:
            if total <= args.runs:
                continue
            have = asyncio.run(top_up(running.database_url, running.project_id, org_id, total))
            asyncio.run(settle_database(running.database_url))
            growth.append((have, measure_list(nfhub, args.seconds, args.connections)))
        for have, result in growth:
            print(result.line(f"{have:>7} runs"))
        if len(growth) > 1:
            rates = [result for _, result in growth]
            spread = max(r.rate for r in rates) / min(r.rate for r in rates)
            worst = max(r.percentile(0.99) for r in rates)
            verdict = "flat" if spread < 1.5 and worst < TARGET_LIST_P99_MS else "NOT flat"
            print(f"  max/min req/s {spread:.2f}, worst p99 {worst:.1f} ms: {verdict} (max/min "
                  f"< 1.5 and p99 < {TARGET_LIST_P99_MS:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
