"""Webhook delivery benchmarks, measured in one run.

    uv run python bench/webhooks.py [--deliveries 2000] [--rounds 3] [--concurrency 8]

1. Delivery: deliveries/s through the outbox (the delivery loop as compute's worker runs it:
   claim a batch with SKIP LOCKED, sign, POST to a receiver under uvicorn that answers 204,
   record the attempt, one transaction each) vs the same signed POSTs sent straight with
   httpx at the same concurrency (the floor: what the receiver and HTTP cost alone).
2. The trigger: run state changes/s (single-row UPDATEs of compute.runs, each writing one
   delivery to the outbox through the trigger) vs the same UPDATEs with the trigger disabled.
Alternating rounds; medians count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from common import Stack, free_port, stack

from nfhub_compute.config import Settings as ComputeSettings
from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_compute.webhooks.repository import webhook_repository
from nfhub_compute.webhooks.service import key_ring
from nfhub_shared.db.engine import create_engine, create_sessionmaker
from nfhub_shared.logging import configure_logging
from nfhub_shared.testing.database import _asyncpg_args
from nfhub_shared.webhooks.http import new_http_client
from nfhub_shared.webhooks.outbox import Deliverer, body_of
from nfhub_shared.webhooks.service import secret_binding
from nfhub_shared.webhooks.signing import new_secret, signed_headers

PAYLOAD = {
    "type": "run.completed",
    "timestamp": "2026-12-07T12:00:00.000000Z",
    "data": {
        "run_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "name": "rnaseq-2026-12",
        "nextflow_name": "nfhub-0f3a", "pipeline": "rnaseq", "pipeline_version": "3.14.0",
        "source": "launched", "state": "COMPLETE", "previous_state": "RUNNING",
        "state_reason": None, "exit_code": 0, "order_id": None, "labels": ["bench"],
    },
}  # fmt: skip


async def seed(settings: ComputeSettings, project_id: str, url: str) -> tuple[str, str]:
    """A webhook of the project to ``url`` (its secret sealed as the API would), and a run."""
    connection = await asyncpg.connect(**_asyncpg_args(settings.database_url))
    try:
        org_id = await connection.fetchval(
            "SELECT org_id FROM admin.projects WHERE id = $1", uuid.UUID(project_id)
        )
        webhook_id = uuid.uuid4()
        sealed = key_ring(settings).seal(new_secret(), secret_binding(webhook_id))
        await connection.execute(
            "INSERT INTO compute.webhooks (id, project_id, org_id, url, events, enabled, "
            "secret_sealed, created_by) VALUES ($1, $2, $3, $4, "
            "'{run.started,run.completed}', true, $5, 'bench')",
            webhook_id, uuid.UUID(project_id), org_id, url, sealed,
        )  # fmt: skip
        run_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO compute.runs (id, project_id, org_id, pipeline_slug, pipeline_version, "
            "name, nextflow_name, state, params, profiles, labels, storage_uri, outdir_uri, "
            "resume, backend, workflow, created_by) VALUES ($1, $2, $3, 'bench', '1', 'bench', "
            "$4, 'RUNNING', '{}', '{}', '{}', 'file:///x/', 'file:///x/runs/', false, 'noop', "
            "'{}', 'bench')",
            run_id, uuid.UUID(project_id), org_id, f"nfhub-{run_id.hex}",
        )  # fmt: skip
        # Its insert (as RUNNING) queued a run.started: not part of what is measured.
        await connection.execute("DELETE FROM compute.webhook_deliveries")
    finally:
        await connection.close()
    return str(webhook_id), str(run_id)


async def enqueue(settings: ComputeSettings, project_id: str, count: int) -> None:
    connection = await asyncpg.connect(**_asyncpg_args(settings.database_url))
    try:
        await connection.execute(
            "SELECT compute.enqueue_webhooks($1, 'run.completed', $2::jsonb) "
            "FROM generate_series(1, $3)",
            uuid.UUID(project_id), json.dumps(PAYLOAD), count,
        )  # fmt: skip
    finally:
        await connection.close()


async def outbox_rate(
    settings: ComputeSettings, project_id: str, count: int, concurrency: int
) -> float:
    await enqueue(settings, project_id, count)
    engine = create_engine(settings, application_name="bench-webhooks", pool_size=concurrency + 2)
    sessionmaker = create_sessionmaker(engine)
    deliverer = Deliverer(
        lambda: sessionmaker,
        webhook_repository,
        key_ring(settings),
        settings.webhook_policy(),
        new_http_client(),
        concurrency=concurrency,
    )
    try:
        started = time.perf_counter()
        delivered = await deliverer.drain()
        elapsed = time.perf_counter() - started
    finally:
        await deliverer.http.aclose()
        await engine.dispose()
    assert delivered == count, (delivered, count)
    return count / elapsed


async def direct_rate(url: str, count: int, concurrency: int) -> float:
    secret = new_secret()
    body = body_of(PAYLOAD)
    limit = asyncio.Semaphore(concurrency)
    async with new_http_client() as client:

        async def post(number: int) -> None:
            async with limit:
                headers = signed_headers(secret, f"msg_{number}", int(time.time()), body)
                response = await client.post(
                    url, content=body, headers={**headers, "content-type": "application/json"}
                )
                assert response.status_code == 204

        started = time.perf_counter()
        await asyncio.gather(*(post(n) for n in range(count)))
        return count / (time.perf_counter() - started)


async def state_change_rate(
    settings: ComputeSettings, run_id: str, count: int, *, trigger: bool
) -> float:
    """Single-row UPDATEs of the run's state, RUNNING ⇄ COMPLETE (each an event)."""
    connection = await asyncpg.connect(**_asyncpg_args(settings.database_url))
    try:
        action = "ENABLE" if trigger else "DISABLE"
        await connection.execute(f"ALTER TABLE compute.runs {action} TRIGGER runs_webhooks")
        update = await connection.prepare(
            "UPDATE compute.runs SET state = CASE state WHEN 'RUNNING' THEN 'COMPLETE' "
            "ELSE 'RUNNING' END, updated_at = now() WHERE id = $1"
        )
        run = uuid.UUID(run_id)
        started = time.perf_counter()
        for _ in range(count):
            await update.fetch(run)
        elapsed = time.perf_counter() - started
        await connection.execute("ALTER TABLE compute.runs ENABLE TRIGGER runs_webhooks")
        await connection.execute("DELETE FROM compute.webhook_deliveries")
    finally:
        await connection.close()
    return count / elapsed


def median_line(label: str, values: list[float], unit: str) -> float:
    middle = statistics.median(values)
    shown = ", ".join(f"{value:,.0f}" for value in values)
    print(f"  {label:<44} median {middle:>9,.0f} {unit}   ({shown})")
    return middle


def measure(running: Stack, args: Any) -> None:
    port = free_port()
    running.start("sink", "apps:webhook_sink_app", port)
    url = f"http://127.0.0.1:{port}/hooks"
    settings = ComputeSettings(
        _env_file=None,
        DATABASE_URL=running.database_url,
        WEBHOOK_ALLOW_PRIVATE_TARGETS=True,
        LOG_LEVEL="WARNING",
    )
    _, run_id = asyncio.run(seed(settings, running.project_id, url))
    outbox: list[float] = []
    direct: list[float] = []
    with_trigger: list[float] = []
    without: list[float] = []
    for turn in range(args.rounds):
        order = (0, 1) if turn % 2 == 0 else (1, 0)
        for which in order:
            if which == 0:
                rate = outbox_rate(settings, running.project_id, args.deliveries, args.concurrency)
                outbox.append(asyncio.run(rate))
            else:
                direct.append(asyncio.run(direct_rate(url, args.deliveries, args.concurrency)))
        for enabled in (turn % 2 == 0, turn % 2 == 1):
            changes = state_change_rate(settings, run_id, args.updates, trigger=enabled)
            (with_trigger if enabled else without).append(asyncio.run(changes))

    print(f"\nwebhook delivery, {args.deliveries} deliveries, concurrency {args.concurrency}")
    through = median_line("through the outbox (claim, sign, POST, record)", outbox, "/s")
    floor = median_line("signed POSTs straight with httpx (floor)", direct, "/s")
    print(f"  ratio outbox / floor: {through / floor:.2f}")
    print(f"\nrun state changes, {args.updates} single-row UPDATEs")
    hooked = median_line("with the trigger (one delivery each)", with_trigger, "/s")
    bare = median_line("trigger disabled", without, "/s")
    print(f"  ratio with / without the trigger: {hooked / bare:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    configure_logging("WARNING", json=True)
    with stack(migrations=[migrate_compute]) as running:
        measure(running, args)


if __name__ == "__main__":
    main()
