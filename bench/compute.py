"""Compute service benchmarks, measured in one run.

    uv run python bench/compute.py [--seconds 5] [--rounds 3] [--connections 16] [--runs 500]

1. Event ingestion: task events/s through POST /runs/{id}/events (compute under uvicorn, one
   worker, each event a new task of one run, as a busy run posts them) vs inserting the same
   task rows with raw asyncpg: prepared single-row INSERTs on one connection (the baseline of
   the target, as ../shared/RECIPES.md measured it), and on as many connections as compute's
   events pool holds (what the database can take at most). Alternating rounds; medians count.
2. Dispatch latency: POST /runs to the backend's submit (submitted_at - created_at) for
   ``--runs`` runs, one after the other, with a worker on the no-op backend; p50 and p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from common import Stack, free_port, hammer, insert_pipeline, request_bytes, stack

from nfhub_compute.config import Settings as ComputeSettings
from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_compute.runs.weblog import weblog_token
from nfhub_shared.testing.database import _asyncpg_args

TARGET_RATIO = 0.30
TARGET_EVENTS_PER_SECOND = 1000
POOL = 10  # compute's EVENTS_POOL_SIZE default
WEBLOG_SECRET = "bench-weblog-secret-0123456789abcdef"  # noqa: S105 - a throw-away bench key


def trace(task_id: int) -> dict[str, Any]:
    """A process_completed trace as Nextflow posts it (../shared/fixtures shape)."""
    now = int(time.time() * 1000)
    return {
        "task_id": task_id, "status": "COMPLETED", "hash": f"{task_id % 256:02x}/650b3e",
        "name": f"NFCORE_RNASEQ:RNASEQ:FASTQC (S{task_id})", "exit": 0, "submit": now - 9000,
        "start": now - 8000, "complete": now, "duration": 9000, "realtime": 8000,
        "%cpu": 412.3, "%mem": 1.2, "rss": 402653184, "vmem": 5476083712,
        "peak_rss": 613416960, "peak_vmem": 5620121600, "rchar": 2147483648, "wchar": 1048576,
        "read_bytes": 2139095040, "write_bytes": 1122304, "hostname": "cn042",
        "process": "NFCORE_RNASEQ:RNASEQ:FASTQC", "tag": f"S{task_id}", "module": [],
        "container": "https://depot.galaxyproject.org/singularity/fastqc:0.12.1--hdfd78af_0",
        "attempt": 1, "script": "\n    fastqc --quiet --threads 6 S1_1.fastq.gz\n    ",
        "workdir": f"/scratch/work/{task_id}", "queue": "normal", "cpus": 6,
        "memory": 38654705664, "time": 14400000, "native_id": str(4815162 + task_id),
    }  # fmt: skip


async def seed(database_url: str, project_id: str) -> tuple[str, str, str]:
    """A pipeline without schema, and two runs (the endpoint's, the baseline's), in SQL."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        org_id = await connection.fetchval(
            "SELECT org_id FROM admin.projects WHERE id = $1", uuid.UUID(project_id)
        )
        pipeline_id, version_id = await insert_pipeline(
            connection, org_id, slug="bench-noop", name="Bench", version="1",
            source_url="https://github.com/nf-core/rnaseq", revision="3.14.0",
        )  # fmt: skip
        runs = []
        for _ in range(2):
            run_id = uuid.uuid4()
            await connection.execute(
                "INSERT INTO compute.runs (id, project_id, org_id, pipeline_id, "
                "pipeline_version_id, pipeline_slug, pipeline_version, name, nextflow_name, state, "
                "params, profiles, labels, storage_uri, outdir_uri, resume, backend, workflow, "
                "created_by) VALUES ($1, $2, $3, $4, $5, 'bench-noop', '1', 'bench', $6, "
                "'RUNNING', '{}', '{}', '{}', 'file:///x/', 'file:///x/runs/', false, 'noop', "
                "'{}', 'bench')",
                run_id, uuid.UUID(project_id), org_id, pipeline_id, version_id,
                f"nfhub-{run_id.hex}",
            )  # fmt: skip
            runs.append(str(run_id))
    finally:
        await connection.close()
    return str(pipeline_id), runs[0], runs[1]


async def raw_inserts(
    database_url: str, run_id: str, seconds: float, start: int, connections: int
) -> float:
    """Rows/s of the same task rows, prepared single-row INSERTs on ``connections``, with the
    session settings of compute's events pool (synchronous_commit off): like for like."""
    statement = (
        "INSERT INTO compute.tasks (run_id, task_id, status, status_rank, hash, name, process, "
        "tag, native_id, exit_status, attempt, workdir, container, hostname, cpus, memory, "
        "submit_at, start_at, complete_at, duration_ms, realtime_ms, cpu_percent, peak_rss, "
        "peak_vmem, read_bytes, write_bytes, trace) VALUES ($1, $2, 'COMPLETED', 4, $3, $4, "
        "$5, $6, $7, 0, 1, $8, $9, $10, 6, 38654705664, $11, $11, $11, 9000, 8000, 412.3, "
        "613416960, 5620121600, 2139095040, 1122304, $12)"
    )
    run = uuid.UUID(run_id)
    counter = iter(range(start, 2**62))
    deadline = time.perf_counter() + seconds
    done = [0] * connections

    async def insert(index: int) -> None:
        connection = await asyncpg.connect(
            **_asyncpg_args(database_url), server_settings={"synchronous_commit": "off"}
        )
        try:
            prepared = await connection.prepare(statement)
            while time.perf_counter() < deadline:
                task_id = next(counter)
                row = trace(task_id)
                await prepared.fetch(
                    run, task_id, row["hash"], row["name"], row["process"], row["tag"],
                    row["native_id"], row["workdir"], row["container"], row["hostname"],
                    datetime.now(UTC), json.dumps(row),
                )  # fmt: skip
                done[index] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(insert(i) for i in range(connections)))
    return sum(done) / (time.perf_counter() - started)


def start_compute(running: Stack, **extra: str) -> int:
    port = free_port()
    env = {
        "COMPUTE_WEBLOG_SECRET": WEBLOG_SECRET,
        "COMPUTE_URL": f"http://127.0.0.1:{port}",
        "COMPUTE_BACKEND": "noop",
        **extra,
    }
    running.start("compute", "nfhub_compute.main:create_app", port, env)
    return port


def measure_ingestion(running: Stack, port: int, run_id: str, base_run: str, args: Any) -> None:
    settings = ComputeSettings(_env_file=None, WEBLOG_SECRET=WEBLOG_SECRET)
    token = weblog_token(settings, uuid.UUID(run_id))
    path = f"/api/v1/runs/{run_id}/events?token={token}"
    next_task = iter(range(1, 2**62))

    def events(count: int) -> list[bytes]:
        return [
            request_bytes(path, {}, method="POST", body=json.dumps(
                {"runName": "bench", "runId": "r", "event": "process_completed",
                 "utcTime": "2024-05-14T08:26:31Z", "trace": trace(next(next_task))}).encode())
            for _ in range(count)
        ]  # fmt: skip

    budget = int(args.seconds * 5000)  # more than one round can post
    asyncio.run(hammer(port, events(2000), 1.0, args.connections, expect=b"204"))  # warm-up
    results: dict[str, list[float]] = {"endpoint": [], "raw, 1 connection": [],
                                       f"raw, {POOL} connections": []}  # fmt: skip
    raw_start = 1
    for _ in range(args.rounds):
        results["endpoint"].append(
            asyncio.run(hammer(port, events(budget), args.seconds, args.connections, expect=b"204"))
        )
        for name, connections in (("raw, 1 connection", 1), (f"raw, {POOL} connections", POOL)):
            results[name].append(
                asyncio.run(
                    raw_inserts(
                        running.database_url, base_run, args.seconds, raw_start, connections
                    )
                )
            )
            raw_start += budget * 4
    medians = {name: statistics.median(values) for name, values in results.items()}
    api = medians["endpoint"]
    print(f"event ingestion, {args.rounds} rounds x {args.seconds:.0f} s, median:")
    print(f"  POST /runs/{{id}}/events ({args.connections} connections)  {api:8.0f} events/s")
    for name in list(medians)[1:]:
        print(f"  raw asyncpg INSERT, {name[5:]:<14}            {medians[name]:8.0f} rows/s   "
              f"ratio {api / medians[name]:.2f}")  # fmt: skip
    ratio = api / medians["raw, 1 connection"]
    verdict = "meets" if ratio >= TARGET_RATIO and api >= TARGET_EVENTS_PER_SECOND else "MISSES"
    print(f"  endpoint / raw (1 connection) = {ratio:.2f}: {verdict} the {TARGET_RATIO} ratio "
          f"and {TARGET_EVENTS_PER_SECOND} events/s targets")  # fmt: skip


def measure_dispatch(running: Stack, port: int, args: Any) -> None:
    worker = running.start_process(
        "worker", ["-m", "nfhub_compute.worker"],
        {"COMPUTE_BACKEND": "noop", "COMPUTE_MAX_ACTIVE_RUNS": "1000000",
         "COMPUTE_WEBLOG_SECRET": WEBLOG_SECRET, "COMPUTE_RECONCILE_INTERVAL_SECONDS": "5"},
    )  # fmt: skip
    time.sleep(2.0)  # the worker connects and LISTENs
    assert worker.poll() is None, "the worker died"
    ids = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=running.headers) as client:
        for _ in range(args.runs):
            response = client.post("/api/v1/runs", json={"pipeline": "bench-noop"})
            if response.status_code != 201:
                raise SystemExit(f"POST /runs: {response.status_code} {response.text}")
            ids.append(uuid.UUID(response.json()["id"]))

    async def latencies() -> list[float]:
        connection = await asyncpg.connect(**_asyncpg_args(running.database_url))
        try:
            for _ in range(300):
                rows = await connection.fetch(
                    "SELECT extract(epoch FROM submitted_at - created_at) AS s FROM compute.runs "
                    "WHERE id = ANY($1) AND submitted_at IS NOT NULL",
                    ids,
                )
                if len(rows) == len(ids):
                    return sorted(float(row["s"]) * 1000 for row in rows)
                await asyncio.sleep(0.1)
        finally:
            await connection.close()
        raise SystemExit("not every run was submitted within 30 s")

    values = asyncio.run(latencies())
    p50 = statistics.median(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    print(f"dispatch latency, POST /runs → backend submit, {len(values)} runs, no-op backend:")
    print(f"  p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {values[-1]:6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()

    with stack(migrations=[migrate_compute]) as running:
        _, run_id, base_run = asyncio.run(seed(running.database_url, running.project_id))
        port = start_compute(running)
        measure_ingestion(running, port, run_id, base_run, args)
        measure_dispatch(running, port, args)


if __name__ == "__main__":
    main()
