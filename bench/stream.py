"""Live event stream benchmarks (GET /runs/{id}/stream), measured in one run.

    uv run python bench/stream.py [--subscribers 100] [--seconds 10] [--rate 20] [--rounds 3]

1. SSE fan-out: ``--subscribers`` clients follow one run's stream while this process commits
   ``--rate`` task status changes a second into that run (asyncpg, one transaction each);
   latency = the moment a subscriber has parsed the task's event - the moment the commit
   returned, for every (event, subscriber). Baseline, same run: as many bare asyncpg
   connections LISTENing, and a NOTIFY committed at the same rate (what the database's own
   fan-out costs, the floor of anything fed by LISTEN/NOTIFY). Target: p99 < 100 ms.
2. What the feed's triggers cost the weblog ingestion: task events/s through
   POST /runs/{id}/events (bench/compute.py's measurement) with the triggers of migration
   0006_run_event_feed enabled and disabled, alternating rounds, medians.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import psutil
from common import Stack, hammer, pin_load_generator, request_bytes, stack
from compute import WEBLOG_SECRET, seed, start_compute, trace

from nfhub_compute.config import Settings as ComputeSettings
from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_compute.runs.weblog import weblog_token
from nfhub_shared.testing.database import _asyncpg_args

TARGET_P99_MS = 100.0
FEED_TRIGGERS = (
    ("runs", "runs_feed_insert"), ("runs", "runs_feed_update"),
    ("tasks", "tasks_feed_insert"), ("tasks", "tasks_feed_update"),
    ("run_log_chunks", "run_log_chunks_feed_insert"),
)  # fmt: skip
INSERT_TASK = (
    "INSERT INTO compute.tasks (run_id, task_id, status, status_rank, process, trace) "
    "VALUES ($1, $2, 'SUBMITTED', 1, 'BENCH', '{}')"
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def paced(seconds: float, rate: float, commit: Any) -> dict[int, float]:
    """Call ``commit(number)`` ``rate`` times a second; when each returned."""
    committed: dict[int, float] = {}
    interval = 1 / rate
    start = time.perf_counter()
    for number in range(int(seconds * rate)):
        await asyncio.sleep(max(0.0, start + number * interval - time.perf_counter()))
        await commit(number)
        committed[number] = time.perf_counter()
    return committed


async def stream_fan_out(
    running: Stack, port: int, run_id: str, args: Any, first_task: int
) -> list[float]:
    """Latencies (ms) from commit to each subscriber's parse of the task's event."""
    received: list[dict[int, float]] = [{} for _ in range(args.subscribers)]
    request = request_bytes(f"/api/v1/runs/{run_id}/stream", running.headers)

    async def subscriber(index: int, connected: asyncio.Future[None]) -> None:
        """A lean SSE client on a bare socket (httpx's per-line cost would be measured too):
        each chunk of the chunked response holds whole events."""
        seen = received[index]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                connected.set_exception(SystemExit(f"subscriber refused: {head[:300]!r}"))
                return
            connected.set_result(None)
            while True:
                size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
                chunk = await reader.readexactly(size + 2)
                for event in chunk.split(b"\n\n"):
                    if event.startswith(b"id: ") and b"\nevent: task\n" in event:
                        data = event[event.index(b"data: ") + 6 :]
                        seen[json.loads(data)["task_id"] - first_task] = time.perf_counter()
        finally:
            writer.close()

    loop = asyncio.get_running_loop()
    connected = [loop.create_future() for _ in range(args.subscribers)]
    tasks = [asyncio.create_task(subscriber(i, future)) for i, future in enumerate(connected)]
    await asyncio.gather(*connected)
    await asyncio.sleep(1.0)  # the hub's listener is up (it starts with the first)
    writer = await asyncpg.connect(**_asyncpg_args(running.database_url))
    run = uuid.UUID(run_id)
    try:
        committed = await paced(
            args.seconds, args.rate,
            lambda n: writer.execute(INSERT_TASK, run, first_task + n),
        )  # fmt: skip
        await asyncio.sleep(2.0)  # the last events arrive
    finally:
        await writer.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies(committed, received)


async def free_connections(database_url: str) -> int:
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        return int(
            await connection.fetchval(
                "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
            )
        )
    finally:
        await connection.close()


async def notify_fan_out(running: Stack, args: Any, count: int) -> list[float]:
    """The same measured on ``count`` bare LISTEN connections and a NOTIFY per transaction."""
    received: list[dict[int, float]] = [{} for _ in range(count)]
    listeners = []
    for index in range(count):
        connection = await asyncpg.connect(**_asyncpg_args(running.database_url))

        def heard(*callback: Any, seen: dict[int, float] = received[index]) -> None:
            seen[int(callback[-1])] = time.perf_counter()

        await connection.add_listener("bench_fan_out", heard)
        listeners.append(connection)
    writer = await asyncpg.connect(**_asyncpg_args(running.database_url))

    async def commit(number: int) -> None:
        async with writer.transaction():
            await writer.execute("SELECT pg_notify('bench_fan_out', $1)", str(number))

    try:
        committed = await paced(args.seconds, args.rate, commit)
        await asyncio.sleep(1.0)
    finally:
        await writer.close()
        await asyncio.gather(*(connection.close() for connection in listeners))
    return latencies(committed, received)


def latencies(committed: dict[int, float], received: list[dict[int, float]]) -> list[float]:
    found = [
        (seen[number] - at) * 1000
        for seen in received
        for number, at in committed.items()
        if number in seen
    ]
    missing = len(committed) * len(received) - len(found)
    if missing:
        raise SystemExit(f"{missing} deliveries never arrived")
    return found


def measure_notify(running: Stack, args: Any) -> tuple[int, list[list[float]]]:
    """The baseline, before compute starts: the embedded server's 100 connections hardly hold
    100 listeners beside compute's pools."""
    count = min(args.subscribers, asyncio.run(free_connections(running.database_url)) - 2)
    return count, [asyncio.run(notify_fan_out(running, args, count)) for _ in range(args.rounds)]


def measure_fan_out(
    running: Stack, port: int, run_id: str, args: Any, notify: tuple[int, list[list[float]]]
) -> None:
    listeners, baseline = notify
    results: dict[str, list[list[float]]] = {"stream": [], "notify": baseline}
    # The machine's other load moves latencies; compute's own CPU time per commit does not.
    server = psutil.Process(running.processes[-1].pid)
    cpu_before = sum(server.cpu_times()[:2])
    for turn in range(args.rounds):
        first = 1_000_000 * (turn + 1)
        results["stream"].append(asyncio.run(stream_fan_out(running, port, run_id, args, first)))
    commits = args.rounds * int(args.seconds * args.rate)
    cpu_per_commit = (sum(server.cpu_times()[:2]) - cpu_before) / commits * 1000
    print(
        f"SSE fan-out: {args.subscribers} subscribers on one run, {args.rate:g} commits/s for "
        f"{args.seconds:g} s, {args.rounds} rounds (median of the rounds' percentiles):"
    )
    summary = {}
    labels = (
        ("stream", "GET /runs/{id}/stream"), ("notify", f"bare NOTIFY, {listeners} LISTENers"),
    )  # fmt: skip
    for name, label in labels:
        p50 = statistics.median(percentile(r, 0.50) for r in results[name])
        p99 = statistics.median(percentile(r, 0.99) for r in results[name])
        worst = max(max(r) for r in results[name])
        summary[name] = p99
        print(f"  {label:<28} p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  max {worst:7.1f} ms")
    print(
        f"  compute's CPU per commit (its task event and counters to {args.subscribers} "
        f"subscribers, the subscriptions included): {cpu_per_commit:.1f} ms; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    verdict = "meets" if summary["stream"] < TARGET_P99_MS else "MISSES"
    print(
        f"  p99 stream / bare NOTIFY = {summary['stream'] / summary['notify']:.2f}; {verdict} "
        f"the p99 < {TARGET_P99_MS:.0f} ms target"
    )


async def set_triggers(database_url: str, *, enabled: bool) -> None:
    connection = await asyncpg.connect(**_asyncpg_args(database_url))
    try:
        action = "ENABLE" if enabled else "DISABLE"
        for table, trigger in FEED_TRIGGERS:
            await connection.execute(f"ALTER TABLE compute.{table} {action} TRIGGER {trigger}")
    finally:
        await connection.close()


def measure_trigger_cost(running: Stack, port: int, run_id: str, args: Any) -> None:
    settings = ComputeSettings(_env_file=None, WEBLOG_SECRET=WEBLOG_SECRET)
    path = f"/api/v1/runs/{run_id}/events?token={weblog_token(settings, uuid.UUID(run_id))}"
    next_task = iter(range(1, 2**40))

    def events(count: int) -> list[bytes]:
        return [
            request_bytes(path, {}, method="POST", body=json.dumps(
                {"runName": "bench", "runId": "r", "event": "process_completed",
                 "utcTime": "2024-05-14T08:26:31Z", "trace": trace(next(next_task))}).encode())
            for _ in range(count)
        ]  # fmt: skip

    budget = int(args.ingest_seconds * 5000)
    asyncio.run(hammer(port, events(2000), 1.0, args.connections, expect=b"204"))  # warm-up
    results: dict[bool, list[float]] = {True: [], False: []}
    for turn in range(args.rounds):
        for enabled in (True, False) if turn % 2 == 0 else (False, True):
            asyncio.run(set_triggers(running.database_url, enabled=enabled))
            results[enabled].append(
                asyncio.run(
                    hammer(port, events(budget), args.ingest_seconds, args.connections,
                           expect=b"204")
                )
            )  # fmt: skip
    asyncio.run(set_triggers(running.database_url, enabled=True))
    with_feed, without = (statistics.median(results[flag]) for flag in (True, False))
    print(
        f"weblog ingestion, POST /runs/{{id}}/events ({args.connections} connections), "
        f"{args.rounds} rounds x {args.ingest_seconds:g} s, median:"
    )
    print(f"  feed triggers disabled   {without:8.0f} events/s")
    print(f"  feed triggers enabled    {with_feed:8.0f} events/s   ratio {with_feed / without:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0, help="one fan-out round")
    parser.add_argument("--rate", type=float, default=20.0, help="commits per second")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16, help="ingestion connections")
    parser.add_argument("--ingest-seconds", type=float, default=3.0, help="one ingestion round")
    args = parser.parse_args()

    with stack(migrations=[migrate_compute]) as running:
        _, run_id, _base_run = asyncio.run(seed(running.database_url, running.project_id))
        pin_load_generator()
        notify = measure_notify(running, args)
        port = start_compute(running)
        measure_fan_out(running, port, run_id, args, notify)
        measure_trigger_cost(running, port, run_id, args)


if __name__ == "__main__":
    main()
