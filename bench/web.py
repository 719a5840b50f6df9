"""The web app's runs list against the API call it makes, measured in one run.

    uv run python bench/web.py [--runs 10000] [--requests 300]

A project of ``--runs`` runs (inserted in SQL, states mixed, a third still live so the page
polls); compute and web under uvicorn, one process each. ``--requests`` sequential requests of
each, alternating: compute's GET /api/v1/runs?limit=50 with the user's token (what web asks),
and web's GET /runs with a session cookie (the session resolved from web's table, that same
API call, the page rendered). p50 and p99 of each, time to the last byte on loopback; the
ratio of the p50s (what the page adds to its API call); the target is web's p99 under 150 ms
(issue 23).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import httpx
from common import Stack, free_port, insert_pipeline, stack

from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_shared.sealing import KeyRing
from nfhub_shared.testing.database import _asyncpg_args
from nfhub_web.config import DEV_SESSION_KEY
from nfhub_web.migrate import migrate as migrate_web

TARGET_P99_MS = 150.0
STATES = ("COMPLETE", "COMPLETE", "RUNNING", "EXECUTOR_ERROR", "QUEUED", "CANCELED")


async def seed(running: Stack, runs: int) -> str:
    """``runs`` runs in the bench project, and a web session of the bench user; its cookie."""
    connection = await asyncpg.connect(**_asyncpg_args(running.database_url))
    try:
        project_id = uuid.UUID(running.project_id)
        org_id, org_name, project_name = await connection.fetchrow(
            "SELECT o.id, o.name, p.name FROM admin.projects p JOIN admin.orgs o "
            "ON o.id = p.org_id WHERE p.id = $1",
            project_id,
        )
        user_id = await connection.fetchval("SELECT id FROM admin.users WHERE username = 'bench'")
        pipeline_id, version_id = await insert_pipeline(
            connection, org_id, slug="bench-rnaseq", name="Bench", version="3.14.0",
            source_url="https://github.com/nf-core/rnaseq", revision="3.14.0",
        )  # fmt: skip
        now = datetime.now(UTC)
        rows = []
        for n in range(runs):
            run_id = uuid.uuid4()
            rows.append((
                run_id, project_id, org_id, pipeline_id, version_id, f"run {n} of the bench",
                f"nfhub-{run_id.hex}", STATES[n % len(STATES)], [f"batch:{n % 20}"],
                now - timedelta(minutes=runs - n),
            ))  # fmt: skip
        await connection.executemany(
            "INSERT INTO compute.runs (id, project_id, org_id, pipeline_id, "
            "pipeline_version_id, pipeline_slug, pipeline_version, name, nextflow_name, state, "
            "params, profiles, labels, storage_uri, outdir_uri, resume, backend, workflow, "
            "created_by, created_at) VALUES ($1, $2, $3, $4, $5, 'bench-rnaseq', '3.14.0', $6, "
            "$7, $8, '{}', '{}', $9, 'file:///x/', 'file:///x/runs/', false, 'noop', '{}', "
            "'bench', $10)",
            rows,
        )
        secret = secrets.token_urlsafe(32)
        session_id = uuid.uuid4()
        keys = KeyRing(DEV_SESSION_KEY)
        await connection.execute(
            "INSERT INTO web.sessions (id, secret_hash, user_id, username, access_token_sealed, "
            "access_expires_at, refresh_token_sealed, refresh_expires_at, last_seen_at, "
            "csrf_token, org_id, org_name, project_id, project_name) VALUES ($1, $2, $3, "
            "'bench', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            session_id, hashlib.sha256(secret.encode()).hexdigest(), user_id,
            keys.seal(running.token, f"web-session:{session_id}:access".encode()),
            now + timedelta(hours=1),
            keys.seal("unused", f"web-session:{session_id}:refresh".encode()),
            now + timedelta(days=1), now, secrets.token_urlsafe(32),
            org_id, org_name, project_id, project_name,
        )  # fmt: skip
    finally:
        await connection.close()
    return secret


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(
    running: Stack, compute_port: int, web_port: int, cookie: str, runs: int, requests: int
) -> None:
    api = httpx.Client(base_url=f"http://127.0.0.1:{compute_port}", timeout=60)
    web = httpx.Client(
        base_url=f"http://127.0.0.1:{web_port}", timeout=60, cookies={"nfhub_session": cookie}
    )
    timings: dict[str, list[float]] = {"api": [], "web": []}

    def api_call() -> httpx.Response:
        return api.get("/api/v1/runs", params={"limit": 50}, headers=running.headers)

    def page() -> httpx.Response:
        return web.get("/runs")

    with api, web:
        for _ in range(10):  # warm-up
            api_call(), page()
        for _ in range(requests):
            for name, call in (("api", api_call), ("web", page)):
                started = time.perf_counter()
                response = call()
                timings[name].append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{name}: {response.status_code} {response.text[:300]}")
        rendered = page().text
    if rendered.count("<tr>") < 50 or 'hx-get="/runs/rows' not in rendered:
        raise SystemExit("web's page does not show 50 runs that poll")
    print(f"runs list of a {runs} run project, {requests} requests each, sequential:")
    for name, label in (("api", "compute GET /api/v1/runs?limit=50"), ("web", "web GET /runs")):
        print(f"  {label:34s} p50 {statistics.median(timings[name]):6.2f} ms   "
              f"p99 {percentile(timings[name], 0.99):6.2f} ms")  # fmt: skip
    ratio = statistics.median(timings["web"]) / statistics.median(timings["api"])
    p99 = percentile(timings["web"], 0.99)
    verdict = "meets" if p99 < TARGET_P99_MS else "MISSES"
    print(f"  p50 web page / its API call = {ratio:.2f}")
    print(f"  web p99 {p99:.1f} ms ({verdict} the {TARGET_P99_MS:.0f} ms target)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    with stack(migrations=[migrate_compute, migrate_web]) as running:
        started = time.perf_counter()
        cookie = asyncio.run(seed(running, args.runs))
        print(f"inserted {args.runs} runs in {time.perf_counter() - started:.1f} s")
        compute_port, web_port = free_port(), free_port()
        env = {
            "COMPUTE_URL": f"http://127.0.0.1:{compute_port}",
            "ADMIN_STORAGE_LOCAL_ROOT": str(running.workdir / "storage"),
            "WEB_COOKIE_SECURE": "false",
        }
        running.start("compute", "nfhub_compute.main:create_app", compute_port, env)
        running.start("web", "nfhub_web.main:create_app", web_port, env)
        measure(running, compute_port, web_port, cookie, args.runs, args.requests)


if __name__ == "__main__":
    main()
