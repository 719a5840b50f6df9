"""Throughput of an authenticated nfhub endpoint against a bare FastAPI one, in one run.

    uv run python bench/auth.py [--seconds 5] [--rounds 3] [--connections 32]

Starts a throw-away PostgreSQL (embedded, or TEST_DATABASE_URL), admin and two apps under uvicorn
(one worker each): a bare FastAPI app, and an nfhub service (the shared app factory) with the
same JSON behind the project-role dependency (JWT verified locally, role from the cache) and,
for reference, without auth. A keep-alive HTTP/1.1 load generator (asyncio streams, much cheaper
than the servers) measures requests/s of each in alternating rounds; medians count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from common import free_port, hammer, request_bytes, stack

TARGET_RATIO = 0.70


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="nfhub-bench-") as tmp, stack(Path(tmp)) as running:
        bare_port, guarded_port = free_port(), free_port()
        running.start("bare", "apps:bare_app", bare_port)
        running.start("guarded", "apps:guarded_app", guarded_port)
        admin_port = int(running.admin_url.rsplit(":", 1)[1])
        cases = {
            "bare FastAPI": (bare_port, request_bytes("/api/v1/whoami", {})),
            "nfhub stack, no auth": (guarded_port, request_bytes("/api/v1/anonymous", {})),
            "nfhub auth (JWT + cached role)": (
                guarded_port,
                request_bytes("/api/v1/whoami", running.headers),
            ),
            "admin GET /users/me (JWT + DB read)": (
                admin_port,
                request_bytes("/api/v1/users/me", running.headers),
            ),
        }
        results: dict[str, list[float]] = {name: [] for name in cases}
        for port, request in cases.values():  # warm-up: fill the caches first
            asyncio.run(hammer(port, request, 1.0, args.connections))
        for _ in range(args.rounds):
            for name, (port, request) in cases.items():
                results[name].append(
                    asyncio.run(hammer(port, request, args.seconds, args.connections))
                )

    medians = {name: statistics.median(values) for name, values in results.items()}
    bare = medians["bare FastAPI"]
    print(f"{args.rounds} rounds x {args.seconds:.0f} s, {args.connections} connections, median")
    for name, value in medians.items():
        print(f"  {name:<40} {value:9.0f} req/s   ratio {value / bare:5.2f}")
    authenticated = medians["nfhub auth (JWT + cached role)"]
    ratio = authenticated / bare
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"authenticated / bare FastAPI = {ratio:.2f} ({verdict} the {TARGET_RATIO:.0%} target)")
    stack_ratio = authenticated / medians["nfhub stack, no auth"]
    print(f"authenticated / same stack without auth = {stack_ratio:.2f} (the cost of auth alone)")


if __name__ == "__main__":
    main()
