"""A mixed, open-loop load on the whole stack, with a bare app under the same load beside it.

    uv run python bench/load.py [--seconds 300] [--rate 100] [--stack .nfhub/stack.json]

Not part of ``make bench`` (it takes minutes and says how the machine copes, not how the code
compares). Without ``--stack`` it starts its own ``make run`` (scripts/devstack.py) in a
throw-away state folder on free ports, rate limits raised, the worker launching the Nextflow
stand-in (tests/fakes/nextflow); with ``--stack`` it loads a running ``make run`` (whose rate
limits then show as 429s).

Open loop: request ``i`` is due at ``start + i / rate`` whatever happened to the ones before,
and its latency counts from that moment, so a server that falls behind shows as queueing in the
figures instead of slowing the load down (closed-loop generators hide it). The mix: GETs on the
four services (users/me, runs, files, samples), writes (a subject, an upload URL), and a run of
the demo pipeline every ``--run-every`` seconds. Beside it, ``--baseline-share`` more requests go
to a bare FastAPI app under uvicorn (bench/apps.py, same scheme, same machine, same moment): the
figures read as a ratio to what this machine gives any Python service right now.

Printed: per endpoint and overall p50 / p99 / max latency, throughput achieved, errors by
status; how late the generator sent (its own lag, to rule it out); the 1-minute load average
during the run; each service process's CPU use; the launched runs' dispatch latency.

The client is raw keep-alive HTTP/1.1 on asyncio streams, about 1/4 of httpx's CPU per request:
with ``--client httpx`` the generator used 23% of a core instead of 6% at 100 req/s, and the
overall p99 went from 56 ms to 494 ms (the bare app's from 14 to 257 ms) with the same servers;
at a load average of 14 it fell seconds behind. ``--new-connections`` (a TLS handshake per
request) did about the same to the tail. ``--burn N`` adds N busy loops for contention on demand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from common import REPO, free_port

from nfhub_shared.devtls import DevTls

FAKES = REPO / "tests" / "fakes"
BASELINE = "baseline GET (bare FastAPI)"
SHEET_PATH = "load/samplesheet.csv"
# Below uvicorn's keep-alive timeout (5 s): a connection idle longer may be closed under us.
IDLE_SECONDS = 4.0


@dataclass(frozen=True)
class Target:
    """What the load talks to: the services' URLs, the demo token and project, trust."""

    urls: dict[str, str]
    token: str
    project_id: str
    verify: ssl.SSLContext | bool
    tls: DevTls | None
    pids: dict[str, int]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Project-ID": self.project_id}


@dataclass
class Endpoint:
    name: str
    service: str
    method: str
    path: str
    weight: int
    body: Any = None
    latencies: list[float] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # ids in the 201 answers
    outcomes: Counter[str] = field(default_factory=Counter)


def read_target(stack_json: Path) -> Target:
    data = json.loads(stack_json.read_text())
    seed = data.get("seed") or {}
    if not seed.get("token"):
        raise SystemExit(f"{stack_json} has no demo seed: start make run with its seed")
    ca_file = data.get("ca_file")
    verify: ssl.SSLContext | bool = True
    tls = None
    if ca_file:
        verify = ssl.create_default_context(cafile=ca_file)
        tls = DevTls(Path(ca_file).parent)
    pids_file = stack_json.parent / "pids.json"
    pids = json.loads(pids_file.read_text()) if pids_file.is_file() else {}
    urls = {name: url for name, url in data["services"].items() if url}  # not the worker's None
    return Target(urls, seed["token"], seed["project_id"], verify, tls, pids)


@contextmanager
def own_stack(http: bool) -> Iterator[Path]:
    """``make run`` in a throw-away state folder on four free consecutive ports; its stack.json."""
    with tempfile.TemporaryDirectory(prefix="nfhub-load-") as tmp:
        state = Path(tmp)
        base = free_base_port()
        env = {
            **os.environ,
            "NFHUB_STATE_DIR": str(state),
            "NFHUB_BASE_PORT": str(base),
            # The stand-in for Nextflow, found on the worker's PATH as the real one would be.
            "PATH": f"{FAKES}{os.pathsep}{os.environ.get('PATH', '')}",
            "RATE_LIMIT_READ": "100000000",
            "RATE_LIMIT_WRITE": "100000000",
            "COMPUTE_MAX_ACTIVE_RUNS": "100",
            "LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, str(REPO / "scripts" / "devstack.py"), "run", "--no-echo"]
        if http:
            command.append("--http")
        log = state / "devstack.out"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO
            )
        try:
            stack_json = state / "stack.json"
            deadline = time.monotonic() + 600
            while not stack_json.is_file():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"the stack did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
            print(f"stack started in {state} (ports {base}-{base + 3})", flush=True)
            yield stack_json
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def free_base_port() -> int:
    for _ in range(50):
        base = free_port()
        if base + 3 < 65536 and all(port_free(base + n) for n in range(4)):
            return base
    raise SystemExit("no four consecutive free ports")


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def prepare(target: Target) -> None:
    """The demo run's samplesheet, uploaded once (and its FASTQs), before the clock starts."""
    with httpx.Client(headers=target.headers, verify=target.verify, timeout=60) as client:
        files = target.urls["files"]
        sheet = "sample,fastq_1,fastq_2\nLOAD1,load/L_R1.fastq.gz,load/L_R2.fastq.gz\n"
        contents = {
            "load/L_R1.fastq.gz": b"@r1\nACGT\n+\nIIII\n",
            "load/L_R2.fastq.gz": b"@r1\nTGCA\n+\nIIII\n",
            SHEET_PATH: sheet.encode(),
        }
        for path, data in contents.items():
            ticket = client.post(f"{files}/api/v1/files/upload-url", json={"path": path})
            ticket.raise_for_status()
            body = ticket.json()
            client.put(body["url"], content=data, headers=body["headers"]).raise_for_status()


def endpoints() -> list[Endpoint]:
    """The mix, by weight (the run launches are on the clock: one every ``--run-every``)."""
    return [
        Endpoint("admin GET /users/me", "admin", "GET", "/api/v1/users/me", 220),
        Endpoint("compute GET /runs", "compute", "GET", "/api/v1/runs?limit=20", 220),
        Endpoint("files GET /files", "files", "GET", "/api/v1/files?limit=50", 220),
        Endpoint("miner GET /samples", "miner", "GET", "/api/v1/samples?limit=50", 220),
        Endpoint("miner POST /subjects", "miner", "POST", "/api/v1/subjects", 60),
        Endpoint("files POST /upload-url", "files", "POST", "/api/v1/files/upload-url", 60),
    ]


def body_for(endpoint: Endpoint) -> Any:
    if endpoint.path == "/api/v1/subjects":
        return {"display_id": f"L{uuid.uuid4().hex[:12]}"}
    if endpoint.path == "/api/v1/files/upload-url":
        return {"path": f"load/u/{uuid.uuid4().hex}.txt", "size": 10}
    return endpoint.body


class LoadAverage:
    """The 1-minute load average, every 5 s (background task)."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            await asyncio.sleep(5)


class Pool:
    """Keep-alive HTTP/1.1 connections to one server, with request bytes built by hand.

    httpx costs about a millisecond of CPU per request in the client alone; on a busy machine
    the generator then falls behind its own schedule and the figures measure it, not the
    servers (first tries: 400 ms late at 50 req/s). Raw asyncio streams cost a tenth of that.
    """

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        verify: ssl.SSLContext | bool,
        *,
        reuse: bool = True,
    ) -> None:
        self.reuse = reuse
        parsed = httpx.URL(url)
        self.host = parsed.host
        self.port = parsed.port or (443 if parsed.scheme == "https" else 80)
        context = verify if isinstance(verify, ssl.SSLContext) else ssl.create_default_context()
        self.ssl: ssl.SSLContext | None = context if parsed.scheme == "https" else None
        self.head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        # (reader, writer, when it was last used)
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.opened = 0

    def encode(self, method: str, path: str, body: Any) -> bytes:
        data = b"" if body is None else json.dumps(body).encode()
        extra = (
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            if body is not None
            else ""
        )
        return (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.head}{extra}\r\n".encode()
            + data
        )

    async def request(self, raw: bytes) -> tuple[str, bytes]:
        """The status code and body of the answer (not a chunked one's body)."""
        while self.idle:
            reader, writer, used = self.idle.pop()
            if time.monotonic() - used < IDLE_SECONDS:
                try:
                    return await self._exchange(reader, writer, raw)
                except (ConnectionError, asyncio.IncompleteReadError) as exc:
                    # The server closed it meanwhile (as a browser would, send again on a
                    # new one) unless part of an answer came.
                    if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                        raise
            else:
                writer.close()
        self.opened += 1
        reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        return await self._exchange(reader, writer, raw)

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
    ) -> tuple[str, bytes]:
        body = b""
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12].decode()
            length, chunked, close = 0, False, False
            for line in head.lower().split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line[15:])
                elif line.startswith(b"transfer-encoding:") and b"chunked" in line:
                    chunked = True
                elif line.startswith(b"connection:") and b"close" in line:
                    close = True
            if chunked:
                while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                    await reader.readexactly(size + 2)
                await reader.readuntil(b"\r\n")
            else:
                body = await reader.readexactly(length)
        except BaseException:
            writer.close()
            raise
        if close or not self.reuse:
            writer.close()
        else:
            self.idle.append((reader, writer, time.monotonic()))
        return status, body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()


async def drive(
    target: Target, baseline_url: str, args: argparse.Namespace
) -> tuple[list[Endpoint], Endpoint, list[float], float, LoadAverage, dict[str, int]]:
    mix = endpoints()
    launch = Endpoint(
        "compute POST /runs (demo)", "compute", "POST", "/api/v1/runs", 0,
        {"pipeline": "demo", "input": {"path": SHEET_PATH}},
    )  # fmt: skip
    baseline = Endpoint(BASELINE, "baseline", "GET", "/api/v1/whoami", 0)
    pools = {
        name: Pool(url, target.headers, target.verify, reuse=not args.new_connections)
        for name, url in {**target.urls, "baseline": baseline_url}.items()
    }
    clients = {
        name: httpx.AsyncClient(
            base_url=url, headers=target.headers, verify=target.verify, timeout=args.timeout,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        )
        for name, url in {**target.urls, "baseline": baseline_url}.items()
    } if args.client == "httpx" else {}  # fmt: skip
    rng = random.Random(19)
    weights = [e.weight for e in mix]
    lags: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def send(endpoint: Endpoint, due: float) -> None:
        pool = pools[endpoint.service]
        raw = pool.encode(endpoint.method, endpoint.path, body_for(endpoint))
        lags.append(time.perf_counter() - due)
        try:
            if clients:
                response = await clients[endpoint.service].request(
                    endpoint.method, endpoint.path, json=body_for(endpoint)
                )
                outcome, answer = str(response.status_code), response.content
            else:
                outcome, answer = await asyncio.wait_for(pool.request(raw), args.timeout)
            if outcome == "201" and endpoint is launch:
                endpoint.created.append(json.loads(answer)["id"])
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            outcome = type(exc).__name__
        except TimeoutError:
            outcome = "timeout"
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        endpoint.latencies.append(time.perf_counter() - due)
        endpoint.outcomes[outcome] += 1

    load = LoadAverage()
    sampler = asyncio.create_task(load.run())
    interval = 1 / args.rate
    baseline_every = round(1 / args.baseline_share) if args.baseline_share > 0 else 0
    launch_every = max(1, round(args.run_every * args.rate))
    start = time.perf_counter()
    n = 0
    while (due := start + n * interval) < start + args.seconds:
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        chosen_now = [rng.choices(mix, weights)[0]]
        if baseline_every and n % baseline_every == 0:
            chosen_now.append(baseline)
        if n % launch_every == launch_every // 2:
            chosen_now.append(launch)
        for chosen in chosen_now:
            task = asyncio.create_task(send(chosen, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        n += 1
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout + 5)
    elapsed = time.perf_counter() - start
    sampler.cancel()
    for pool in pools.values():
        pool.close()
    for client in clients.values():
        await client.aclose()
    return [*mix, launch], baseline, lags, elapsed, load, {k: p.opened for k, p in pools.items()}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def line(name: str, endpoint: Endpoint, elapsed: float, base_p50: float) -> str:
    values = endpoint.latencies
    if not values:
        return f"  {name:<32} no answers"
    p50, p99 = statistics.median(values) * 1000, percentile(values, 0.99) * 1000
    errors = {k: v for k, v in endpoint.outcomes.items() if not k.startswith("2")}
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "-"
    return (
        f"  {name:<32} {len(values):6d} {len(values) / elapsed:6.1f}/s  p50 {p50:7.1f}  "
        f"p99 {p99:8.1f}  max {max(values) * 1000:8.1f} ms  "
        f"p50 ratio {p50 / (base_p50 * 1000):5.1f}  "
        f"errors {shown}"
    )


def report(
    mix: list[Endpoint],
    baseline: Endpoint,
    lags: list[float],
    elapsed: float,
    load: LoadAverage,
    cpu: dict[str, float],
    args: argparse.Namespace,
) -> None:
    base_p50 = statistics.median(baseline.latencies) if baseline.latencies else float("nan")
    total = Endpoint("overall (nfhub)", "", "", "", 0)
    for endpoint in mix:
        total.latencies += endpoint.latencies
        total.outcomes.update(endpoint.outcomes)
    print(
        f"\n{args.seconds:g} s open loop at {args.rate:g} req/s offered (+ "
        f"{args.baseline_share:.0%} to the baseline), {os.cpu_count()} cores; "
        "latency from each request's due time; ratio: p50 / the baseline's p50"
    )
    print(f"  {'endpoint':<32} {'count':>6} {'rate':>8}")
    for endpoint in mix:
        print(line(endpoint.name, endpoint, elapsed, base_p50))
    print(line(total.name, total, elapsed, base_p50))
    print(line(baseline.name, baseline, elapsed, base_p50))
    if lags:
        print(
            f"  generator lag (sent after due): p50 {statistics.median(lags) * 1000:.1f} ms, "
            f"p99 {percentile(lags, 0.99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms"
        )
    if load.samples:
        print(
            f"  load average (1 min) during the run: min {min(load.samples):.1f}, "
            f"mean {statistics.mean(load.samples):.1f}, max {max(load.samples):.1f}"
        )
    if cpu:
        shown = ", ".join(f"{name} {share:.0%}" for name, share in cpu.items())
        print(f"  CPU of one core used, per process: {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the load")
    parser.add_argument("--rate", type=float, default=100.0, help="requests/s offered")
    parser.add_argument("--run-every", type=float, default=10.0, help="seconds between runs")
    parser.add_argument("--baseline-share", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--stack", type=Path, help="a running make run's stack.json")
    parser.add_argument("--http", action="store_true", help="own stack: plain HTTP, not HTTPS")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="httpx: to see what a heavier client does to the figures (see the docstring)",
    )
    parser.add_argument(
        "--new-connections",
        action="store_true",
        help="a new connection (TLS handshake) per request, as a naive client makes",
    )
    parser.add_argument(
        "--burn", type=int, default=0, help="CPU-bound processes to add during the load"
    )
    args = parser.parse_args()

    with own_stack(args.http) if args.stack is None else _given(args.stack) as stack_json:
        target = read_target(stack_json)
        prepare(target)
        baseline_port = free_port()
        command = [
            sys.executable, "-m", "uvicorn", "apps:bare_app", "--factory", "--host",
            "127.0.0.1", "--port", str(baseline_port), "--no-access-log", "--log-level",
            "warning", "--app-dir", str(REPO / "bench"),
        ]  # fmt: skip
        scheme = "http"
        if target.tls is not None:
            command += ["--ssl-certfile", str(target.tls.server_cert)]
            command += ["--ssl-keyfile", str(target.tls.server_key)]
            scheme = "https"
        bare = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            baseline_url = f"{scheme}://127.0.0.1:{baseline_port}"
            wait_answering(baseline_url, target.verify)
            processes = {name: psutil.Process(pid) for name, pid in target.pids.items()} | {
                "baseline": psutil.Process(bare.pid),
                "load generator": psutil.Process(),
            }
            before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
            with burning(args.burn):
                mix, baseline, lags, elapsed, load, opened = asyncio.run(
                    drive(target, baseline_url, args)
                )
            cpu = {
                name: (sum(p.cpu_times()[:2]) - before[name]) / elapsed
                for name, p in processes.items()
            }
        finally:
            bare.terminate()
            bare.wait(timeout=10)
        report(mix, baseline, lags, elapsed, load, cpu, args)
        print(dispatch_report(target, [i for e in mix for i in e.created]))  # stack still up
    if args.client == "raw":
        print(f"  connections opened: {opened}")
    print(f"  busy loops beside: {args.burn}")
    if args.new_connections:
        print("  (a new connection per request)")
    if args.client == "httpx":
        print("  (httpx client: its own cost is in these figures)")


def dispatch_report(target: Target, run_ids: list[str]) -> str:
    """POST /runs → the worker's submit, and → Nextflow's first event, of the runs launched."""
    if not run_ids:
        return "  no run launched"
    submitted: list[float] = []
    started: list[float] = []
    deadline = time.monotonic() + 60
    with httpx.Client(headers=target.headers, verify=target.verify, timeout=30) as client:
        for run_id in run_ids:
            while True:
                run = client.get(f"{target.urls['compute']}/api/v1/runs/{run_id}").json()
                if run["workflow_started_at"] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            created = datetime.fromisoformat(run["created_at"])
            for key, into in (("submitted_at", submitted), ("workflow_started_at", started)):
                if run[key]:
                    into.append((datetime.fromisoformat(run[key]) - created).total_seconds())
    parts = [f"  runs launched: {len(run_ids)}"]
    for name, values in (("POST → submit", submitted), ("POST → workflow started", started)):
        if values:
            parts.append(
                f"{name} p50 {statistics.median(values) * 1000:.0f} ms, "
                f"max {max(values) * 1000:.0f} ms ({len(values)} runs)"
            )
    return "; ".join(parts)


@contextmanager
def burning(count: int) -> Iterator[None]:
    """``count`` busy loops beside the stack: the contention of a shared machine, on demand
    (issue 19 saw its collapse at a load average of ~5 on 2 cores)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()


@contextmanager
def _given(stack_json: Path) -> Iterator[Path]:
    yield stack_json


def wait_answering(url: str, verify: ssl.SSLContext | bool) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/api/v1/whoami", verify=verify, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer in 60 s")


if __name__ == "__main__":
    main()
