"""GET /runs/{id}/metrics of runs with many tasks, against GET /runs/{id}, in one run.

    uv run python bench/metrics.py [--tasks 100000] [--processes 20] [--requests 200]
                                   [--rounds 3]

compute runs under uvicorn (one process, the no-op backend) with a worker (which computes
running runs' summaries anew when asked). Four runs get ``--tasks`` task rows each in SQL (as
many as a weblog would have left: ``--processes`` processes, 90 % COMPLETED, the rest
FAILED, CACHED, ABORTED or RUNNING, every value a task has; a tenth with no time asked), then
VACUUM (ANALYZE). The table holds the other runs' tasks too. Measured:

1. An ended run (COMPLETE). The first request computes the summaries and stores them
   (compute.run_metrics); a worker does that as it ends a run it launched. Then
   ``--requests`` requests answered from the stored row.
2. A running run (RUNNING) whose stored summaries are younger than
   COMPUTE_RUNNING_METRICS_MAX_AGE_SECONDS (10 s): ``--requests`` requests.
3. A running run whose summaries are made just older than that before every request (as a
   client polling less often finds them), the requests a quarter of a second apart: each is
   answered with them and asks the worker to compute them anew, which it does meanwhile, on
   the same database (the figure says how many times).
4. A running run whose summaries are older than COMPUTE_RUNNING_METRICS_STALE_MAX_SECONDS
   before every request (no worker computed them), so every request computes them (the live
   query, as every request did before they were stored): a fifth as many requests.

Each metrics request alternates, on one keep-alive connection and round after round, with
a GET /runs/{id} of the same run (the same authentication, one run row and its task
counts). For each: p50, p99, the ratio of the p50s and the verdict against the target.
Beside the wall-clock times: the CPU time each request took in the compute process and in
the PostgreSQL backends serving it (psutil; the worker's backend is not counted). That is
what a request costs whatever else the machine runs, and close to its latency on an idle
machine (one request at a time, the work is sequential). On a machine shared with other
load, the wall-clock figures stretch with it; the ratio and the CPU times do not. Last, the
plan of the live query (EXPLAIN ANALYZE, its own time without HTTP).

Target: p99 of GET /runs/{id}/metrics < 200 ms at 100,000 tasks.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil
from common import Stack, free_port, insert_pipeline, insert_run, stack
from sqlalchemy.dialects import postgresql

from nfhub_compute.config import Settings
from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_compute.tasks.repository import METRICS, METRICS_WORK_MEM
from nfhub_shared.testing.database import _asyncpg_args

TARGET_P99_MS = 200.0
WEBLOG_SECRET = "bench-weblog-secret-0123456789abcdef"  # noqa: S105 - a throw-away bench key
# Between the requests of case 3: the worker (a pass a second) computes meanwhile.
POLL_PAUSE = 0.25
# A running run's stored summaries made older: $2 seconds old.
AGE_SQL = (
    "UPDATE compute.run_metrics SET computed_at = now() - make_interval(secs => $2) "
    "WHERE run_id = $1 RETURNING computed_at"
)

# Every value a task row has, drawn per task; statuses as a run that mostly worked leaves them.
TASKS_SQL = """
INSERT INTO compute.tasks (run_id, task_id, status, status_rank, hash, name, process, tag,
    native_id, exit_status, attempt, workdir, hostname, cpus, memory, time_ms, submit_at,
    start_at, complete_at, duration_ms, realtime_ms, cpu_percent, peak_rss, peak_vmem,
    read_bytes, write_bytes, trace)
SELECT $1, n, s.status, s.rank, lpad(to_hex(n % 256), 2, '0') || '/650b3e',
    'NFCORE_RNASEQ:RNASEQ:PROC_' || (n % $3) || ' (S' || n || ')',
    'NFCORE_RNASEQ:RNASEQ:PROC_' || (n % $3), 'S' || n, (4815162 + n)::text,
    0, 1 + (n % 7 = 0)::int, '/scratch/work/' || n, 'cn' || (n % 64),
    c.cpus, c.cpus * 4294967296::bigint, CASE WHEN n % 10 = 0 THEN NULL ELSE 14400000 END,
    now() - interval '2 hours', now() - interval '1 hour', now(), 9000 + n % 5000,
    (random() * 7200000)::bigint, random() * c.cpus * 100,
    (random() * c.cpus * 4294967296)::bigint, (random() * 2e10)::bigint,
    (random() * 1e10)::bigint, (random() * 1e9)::bigint, '{}'::jsonb
FROM generate_series(1, $2) AS n
CROSS JOIN LATERAL (SELECT CASE
    WHEN n % 100 < 90 THEN 'COMPLETED' WHEN n % 100 < 94 THEN 'FAILED'
    WHEN n % 100 < 98 THEN 'CACHED' WHEN n % 100 < 99 THEN 'ABORTED' ELSE 'RUNNING'
    END AS status) AS st
CROSS JOIN LATERAL (SELECT st.status, CASE st.status WHEN 'COMPLETED' THEN 4
    WHEN 'FAILED' THEN 6 WHEN 'CACHED' THEN 3 WHEN 'ABORTED' THEN 5 ELSE 2 END AS rank) AS s
CROSS JOIN LATERAL (SELECT (1 + n % 8) AS cpus) AS c
"""


async def seed(
    database_url: str, project_id: str, tasks: int, processes: int, states: list[str]
) -> list[str]:
    """A run in each of ``states``, each with ``tasks`` task rows, vacuumed; their ids."""
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        org_id = await connection.fetchval(
            "SELECT org_id FROM admin.projects WHERE id = $1", uuid.UUID(project_id)
        )
        pipeline_id, version_id = await insert_pipeline(
            connection, org_id, slug="bench-metrics", name="Bench", version="1",
            source_url="https://github.com/nf-core/rnaseq", revision="3.14.0",
        )  # fmt: skip
        runs = []
        for state in states:
            run_id = await insert_run(
                connection, uuid.UUID(project_id), org_id, pipeline_id, version_id,
                slug="bench-metrics", state=state,
            )  # fmt: skip
            await connection.execute(TASKS_SQL, run_id, tasks, processes)
            runs.append(str(run_id))
        await connection.execute("VACUUM (ANALYZE) compute.tasks")
    finally:
        await connection.close()
    return runs


async def sql(
    database_url: str, statement: str, *args: Any, before: str | None = None
) -> list[Any]:
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        if before is not None:
            await connection.execute(before)
        return list(await connection.fetch(statement, *args))
    finally:
        await connection.close()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system
    return total


class Database:
    """One connection of the bench's own, for what it changes between requests (unmeasured)."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.connection = self.loop.run_until_complete(
            asyncpg.connect(**_asyncpg_args(database_url))
        )

    def fetchval(self, statement: str, *args: Any) -> Any:
        return self.loop.run_until_complete(self.connection.fetchval(statement, *args))

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


class Aging:
    """Before each request: the run's stored summaries made ``seconds`` old; counts the times
    they were computed anew since the last time (by the worker, or by the request). ``pause``:
    a wait first, as between a client's polls (the worker's passes come every second)."""

    def __init__(
        self, database: Database, run_id: str, seconds: float, *, pause: float = 0.0
    ) -> None:
        self.database = database
        self.run_id = uuid.UUID(run_id)
        self.seconds = seconds
        self.pause = pause
        self.made: Any = None
        self.computed = 0

    def __call__(self) -> None:
        time.sleep(self.pause)
        current = self.database.fetchval(
            "SELECT computed_at FROM compute.run_metrics WHERE run_id = $1", self.run_id
        )
        if self.made is not None and current != self.made:
            self.computed += 1
        self.made = self.database.fetchval(AGE_SQL, self.run_id, self.seconds)


def backends_of(running: Stack) -> list[psutil.Process]:
    """The database's client backends (the app's pooled connections among them)."""
    rows = asyncio.run(
        sql(
            running.database_url,
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
    )
    return [psutil.Process(row["pid"]) for row in rows]


def latencies(
    port: int,
    running: Stack,
    compute: psutil.Process,
    run_id: str,
    requests: int,
    rounds: int,
    before_metrics: Aging | None = None,
) -> None:
    """Alternating GETs of the two routes on one keep-alive connection: p50, p99, ratio, the
    CPU time of each request in compute and in the database's backends. ``before_metrics``,
    when given, runs before each metrics request, outside its time."""
    paths = {"metrics": f"/api/v1/runs/{run_id}/metrics", "run": f"/api/v1/runs/{run_id}"}
    taken: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    computed: set[str] = set()
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers=running.headers, timeout=60
    ) as client:
        for path in paths.values():  # warm-up: connections, caches, the prepared statements
            for _ in range(3):
                if before_metrics is not None:
                    before_metrics()
                client.get(path).raise_for_status()
        body = client.get(paths["metrics"]).json()
        assert body["source"] == "tasks"
        assert len(body["processes"]) > 0
        watched = [compute, *backends_of(running)]
        if before_metrics is not None:
            before_metrics.computed = 0  # counted over the measured requests only
        for turn in range(rounds):
            order = list(paths.items()) if turn % 2 == 0 else list(paths.items())[::-1]
            for _ in range(requests):
                for name, path in order:
                    if name == "metrics" and before_metrics is not None:
                        before_metrics()
                    cpu_before = cpu_seconds(watched)
                    started = time.perf_counter()
                    response = client.get(path)
                    taken[name].append((time.perf_counter() - started) * 1000)
                    cpu[name].append((cpu_seconds(watched) - cpu_before) * 1000)
                    response.raise_for_status()
                    if name == "metrics":
                        computed.add(response.json()["computed_at"])
    for name, path in paths.items():
        values = taken[name]
        print(f"  GET {path.replace(run_id, '{id}'):28} p50 {statistics.median(values):7.1f} ms"
              f"   p99 {percentile(values, 0.99):7.1f} ms   CPU p50 "
              f"{statistics.median(cpu[name]):6.1f} ms  ({len(values)} requests)")  # fmt: skip
    ratio = statistics.median(taken["metrics"]) / statistics.median(taken["run"])
    cpu_ratio = statistics.median(cpu["metrics"]) / max(statistics.median(cpu["run"]), 0.001)
    p99 = percentile(taken["metrics"], 0.99)
    verdict = "met" if p99 < TARGET_P99_MS else "MISSED (wall clock; see the CPU time)"
    if before_metrics is None:
        print(f"  summaries computed {len(computed)} time(s) over these requests")
    else:
        print(f"  summaries computed anew {before_metrics.computed} time(s) meanwhile")
    print(f"  ratio metrics / run: p50 {ratio:.1f}x, CPU {cpu_ratio:.1f}x; "
          f"p99 {p99:.1f} ms, target p99 < {TARGET_P99_MS:.0f} ms: {verdict}")  # fmt: skip


def first_request(port: int, running: Stack, run_id: str) -> None:
    """The first GET /runs/{id}/metrics of an ended run: it computes and stores them."""
    with httpx.Client(
        base_url=f"http://127.0.0.1:{port}", headers=running.headers, timeout=60
    ) as client:
        client.get(f"/api/v1/runs/{run_id}").raise_for_status()  # the connection, the token
        started = time.perf_counter()
        client.get(f"/api/v1/runs/{run_id}/metrics").raise_for_status()
        taken = (time.perf_counter() - started) * 1000
        print(f"  the first request (computes, stores): {taken:.1f} ms "
              "(the worker does it when it ends the run)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with stack([migrate_compute]) as running:
        started = time.perf_counter()
        ended, young, polled, stale = asyncio.run(
            seed(
                running.database_url, running.project_id, args.tasks, args.processes,
                ["COMPLETE", "RUNNING", "RUNNING", "RUNNING"],
            )
        )  # fmt: skip
        print(f"seeded 4 runs x {args.tasks} tasks in {time.perf_counter() - started:.1f} s")
        port = free_port()
        env = {"COMPUTE_WEBLOG_SECRET": WEBLOG_SECRET, "COMPUTE_URL": f"http://127.0.0.1:{port}",
               "COMPUTE_BACKEND": "noop", "COMPUTE_RECONCILE_INTERVAL_SECONDS": "1"}  # fmt: skip
        server = running.start("compute", "nfhub_compute.main:create_app", port, env)
        worker = running.start_process("worker", ["-m", "nfhub_compute.worker"], env)
        compute = psutil.Process(server.pid)
        shape = f"{args.tasks} tasks, {args.processes} processes"
        # The defaults: neither is set for the server.
        max_age = float(Settings.model_fields["RUNNING_METRICS_MAX_AGE_SECONDS"].default)
        stale_max = float(Settings.model_fields["RUNNING_METRICS_STALE_MAX_SECONDS"].default)

        print(f"\n1. an ended run, {shape}:")
        first_request(port, running, ended)
        latencies(port, running, compute, ended, args.requests, args.rounds)

        print(f"\n2. a running run, {shape}, its summaries younger than {max_age:g} s:")
        latencies(port, running, compute, young, args.requests, args.rounds)

        database = Database(running.database_url)
        try:
            print(f"\n3. a running run, {shape}, its summaries {max_age + 1:g} s old before "
                  f"each request, {POLL_PAUSE:g} s apart (the worker computes them anew):"
                  )  # fmt: skip
            latencies(
                port, running, compute, polled, args.requests, args.rounds,
                before_metrics=Aging(database, polled, max_age + 1, pause=POLL_PAUSE),
            )  # fmt: skip
            print(f"\n4. a running run, {shape}, its summaries {stale_max + 1:g} s old before "
                  "each request (the request computes them):")  # fmt: skip
            latencies(
                port, running, compute, stale, max(10, args.requests // 5), args.rounds,
                before_metrics=Aging(database, stale, stale_max + 1),
            )  # fmt: skip
        finally:
            database.close()
        assert worker.poll() is None, "the worker died"

        dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
        query = str(METRICS.compile(dialect=dialect)).replace("%(run_id)s", "$1")
        plan = asyncio.run(
            sql(
                running.database_url,
                f"EXPLAIN (ANALYZE, BUFFERS) {query}",
                uuid.UUID(stale),
                before=f"SET work_mem = '{METRICS_WORK_MEM}'",
            )
        )
        print("\n5. the live query's plan (EXPLAIN ANALYZE, no HTTP):")
        for row in plan:
            line = row[0]
            if any(key in line for key in ("Scan", "Execution Time", "Sort", "Aggregate")):
                print(f"  {line.strip()}")


if __name__ == "__main__":
    main()
