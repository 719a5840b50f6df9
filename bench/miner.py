"""Miner benchmarks, measured in one run.

    uv run python bench/miner.py [--big 1000000] [--small 10000] [--requests 300] [--order 10000]

1. GET /samples?limit=50 in a project of ``--big`` samples vs one of ``--small`` (rows loaded
   with COPY, as an import of years of a lab's samples would leave them): p50 and p99 of
   ``--requests`` sequential requests each, alternating; the p50 ratio (target within 1.5x:
   a page costs the page, not the table).
2. The samplesheet of an order of ``--order`` samples (and of a tenth of that, for scale):
   time to the last byte, and the miner process's peak RSS growth while building it (target
   under 1 s, and flat: the larger order must not take proportionally more memory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from common import REPO, PeakRss, Stack, free_port, insert_pipeline, stack

from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_miner.migrate import migrate as migrate_miner
from nfhub_shared.testing.database import _asyncpg_args

INPUT_SCHEMA = REPO / "tests" / "fakes" / "pipelines" / "hello" / "assets" / "schema_input.json"
TARGET_PAGE_RATIO = 1.5
TARGET_SHEET_SECONDS = 1.0
COPY_BATCH = 50_000


def sample_records(project_id: uuid.UUID, count: int, prefix: str) -> Any:
    """Rows for COPY into miner.samples, created over the last year."""
    now = datetime.now(UTC)
    files = json.dumps(
        [{"paths": {"fastq_1": "raw/x_R1.fastq.gz", "fastq_2": "raw/x_R2.fastq.gz"},
          "attributes": {}}]
    )  # fmt: skip
    for n in range(count):
        display = f"{prefix}{n:07d}"
        yield (
            uuid.uuid4(), project_id, display, "germline" if n % 3 else "somatic",
            ["batch" + str(n % 50)], json.dumps({"panel": "WGS", "n": n}),
            files.replace("x_", f"{display}_"), f"{display.lower()} batch{n % 50} wgs {n}",
            "bench", now - timedelta(seconds=count - n), now,
        )  # fmt: skip


async def seed(database_url: str, editor_project: str, args: argparse.Namespace) -> dict[str, Any]:
    """A second project for the same editor; samples in both; a pipeline; two orders."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        big = uuid.UUID(editor_project)
        org_id, user_id = await connection.fetchrow(
            "SELECT p.org_id, m.user_id FROM admin.projects p JOIN admin.project_memberships m "
            "ON m.project_id = p.id WHERE p.id = $1",
            big,
        )
        small = uuid.uuid4()
        await connection.execute(
            "INSERT INTO admin.projects (id, org_id, slug, name) VALUES ($1, $2, 'small', 'Small')",
            small, org_id,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO admin.project_memberships (id, project_id, user_id, role) "
            "VALUES ($1, $2, $3, 'editor')",
            uuid.uuid4(), small, user_id,
        )  # fmt: skip
        columns = [
            "id", "project_id", "display_id", "sample_type", "tags", "properties", "files",
            "search_text", "created_by", "created_at", "updated_at",
        ]  # fmt: skip
        loaded = {}
        for project, count, prefix in ((big, args.big, "B"), (small, args.small, "S")):
            started = time.perf_counter()
            batch: list[Any] = []
            for record in sample_records(project, count, prefix):
                batch.append(record)
                if len(batch) >= COPY_BATCH:
                    await connection.copy_records_to_table(
                        "samples", schema_name="miner", records=batch, columns=columns
                    )
                    batch = []
            if batch:
                await connection.copy_records_to_table(
                    "samples", schema_name="miner", records=batch, columns=columns
                )
            await connection.execute(
                "INSERT INTO miner.project_counts (project_id, kind, count) "
                "VALUES ($1, 'samples', $2)",
                project,
                count,
            )
            loaded[str(project)] = time.perf_counter() - started
        await connection.execute("ANALYZE miner.samples")
        await insert_pipeline(
            connection, org_id, slug="hello", name="Hello", version="1.0.0",
            source_url="https://github.com/x/hello", revision="1",
            input_schema=INPUT_SCHEMA.read_text(),
        )  # fmt: skip
        orders = {}
        for size in (args.order // 10, args.order):
            order_id = uuid.uuid4()
            await connection.execute(
                "INSERT INTO miner.orders (id, project_id, display_id, pipeline_slug, "
                "pipeline_version, params, mode, priority, tags, properties, status, "
                "status_changed_at, created_by) VALUES ($1, $2, $3, 'hello', '1.0.0', '{}', "
                "'standard', 'medium', '{}', '{}', 'created', now(), 'bench')",
                order_id, small, f"ORD-{size}",
            )  # fmt: skip
            await connection.execute(
                "INSERT INTO miner.order_samples (order_id, sample_id, role, position, added_at) "
                "SELECT $1, id, 'sample', row_number() OVER (ORDER BY created_at), now() "
                "FROM (SELECT id, created_at FROM miner.samples WHERE project_id = $2 "
                "ORDER BY created_at LIMIT $3) chosen",
                order_id, small, size,
            )  # fmt: skip
            orders[size] = str(order_id)
    finally:
        await connection.close()
    return {"big": str(big), "small": str(small), "orders": orders, "load_seconds": loaded}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure_pages(running: Stack, port: int, projects: dict[str, str], requests: int) -> None:
    timings: dict[str, list[float]] = {"big": [], "small": []}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        for name in ("big", "small") * 10:  # warm-up
            client.get("/api/v1/samples", params={"limit": 50},
                       headers={**running.headers, "X-Project-ID": projects[name]})  # fmt: skip
        for _ in range(requests):
            for name in ("big", "small"):
                started = time.perf_counter()
                response = client.get(
                    "/api/v1/samples", params={"limit": 50},
                    headers={**running.headers, "X-Project-ID": projects[name]},
                )  # fmt: skip
                timings[name].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200 or len(response.json()["items"]) != 50:
                    raise SystemExit(f"GET /samples: {response.status_code} {response.text[:300]}")
    big, small = statistics.median(timings["big"]), statistics.median(timings["small"])
    print(f"GET /samples?limit=50, {requests} requests each, sequential:")
    for name, label in (("big", "big project  "), ("small", "small project")):
        print(f"  {label} p50 {statistics.median(timings[name]):6.2f} ms   "
              f"p99 {percentile(timings[name], 0.99):6.2f} ms")  # fmt: skip
    verdict = "meets" if big / small <= TARGET_PAGE_RATIO else "MISSES"
    print(f"  p50 big / small = {big / small:.2f} ({verdict} the {TARGET_PAGE_RATIO}x target)")


def measure_samplesheets(
    running: Stack, port: int, project: str, orders: dict[int, str], miner_pid: int
) -> None:
    print("samplesheet of an order, to the last byte; miner's peak RSS growth while building:")
    results = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        headers = {**running.headers, "X-Project-ID": project}
        for size, order_id in sorted(orders.items()):
            client.get(f"/api/v1/orders/{order_id}/samplesheet", headers=headers)  # warm-up
            times, growth, rows = [], [], 0
            for _ in range(3):
                with PeakRss(miner_pid) as rss:
                    started = time.perf_counter()
                    with client.stream("GET", f"/api/v1/orders/{order_id}/samplesheet",
                                       headers=headers) as response:  # fmt: skip
                        if response.status_code != 200:
                            raise SystemExit(
                                f"samplesheet: {response.status_code} {response.read()[:300]!r}"
                            )
                        rows = sum(chunk.count(b"\n") for chunk in response.iter_bytes()) - 1
                    times.append(time.perf_counter() - started)
                growth.append(rss.growth_mib)
            results[size] = (statistics.median(times), max(growth))
            print(f"  {size:6d} samples ({rows} rows): {statistics.median(times) * 1000:7.1f} ms   "
                  f"peak RSS growth {max(growth):5.1f} MiB")  # fmt: skip
    small, large = min(results), max(results)
    seconds, grown = results[large]
    verdict = "meets" if seconds < TARGET_SHEET_SECONDS else "MISSES"
    print(
        f"  {large} samples in {seconds:.2f} s ({verdict} the {TARGET_SHEET_SECONDS:.0f} s "
        f"target); memory {results[small][1]:.1f} MiB at {small} vs {grown:.1f} MiB at {large}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--order", type=int, default=10_000)
    args = parser.parse_args()

    with stack(migrations=[migrate_compute, migrate_miner]) as running:
        started = time.perf_counter()
        seeded = asyncio.run(seed(running.database_url, running.project_id, args))
        print(f"loaded {args.big} + {args.small} samples in {time.perf_counter() - started:.0f} s")
        compute_port, miner_port = free_port(), free_port()
        env = {
            "COMPUTE_URL": f"http://127.0.0.1:{compute_port}",
            "MINER_URL": f"http://127.0.0.1:{miner_port}",
            "ADMIN_STORAGE_LOCAL_ROOT": str(running.workdir / "storage"),
        }
        running.start("compute", "nfhub_compute.main:create_app", compute_port, env)
        miner = running.start("miner", "nfhub_miner.main:create_app", miner_port, env)
        measure_pages(running, miner_port, seeded, args.requests)
        measure_samplesheets(running, miner_port, seeded["small"], seeded["orders"], miner.pid)


if __name__ == "__main__":
    main()
