"""Throughput of an authenticated nfhub endpoint against a bare FastAPI one, in one run.

    uv run python bench/auth.py [--seconds 0.5] [--rounds 48] [--connections 32]

Starts a throw-away PostgreSQL (embedded, or TEST_DATABASE_URL), admin and two apps under uvicorn
(one worker each): a bare FastAPI app, and an nfhub service (the shared app factory) with the
same JSON behind the project-role dependency (JWT verified locally, role from the cache) and,
for reference, without auth (the same stack: request id, rate limit by the caller's token,
metrics). Every case is sent the same request, Authorization and X-Project-ID included. A
keep-alive HTTP/1.1 load generator (asyncio streams, much cheaper than the servers) measures
requests/s of each case in rounds of short back-to-back measurements; a ratio is the median of
the per-round ratios, since this machine's speed changes by half from one minute to the next.
Many short rounds rather than a few long ones: the cases of a round are closer in time, and a
median of 48 ratios moves half as much from run to run as one of 12. The servers and the load
generator run on separate cores (with two or more). The server's CPU time per request is
printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from common import free_port, hammer, measure, pin_load_generator, request_bytes, rotated, stack

TARGET_RATIO = 0.70
BARE = "bare FastAPI"
NO_AUTH = "nfhub stack, no auth"
AUTHENTICATED = "nfhub auth (JWT + cached role)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    parser.add_argument("--rounds", type=int, default=48)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with stack() as running:
        bare_port, guarded_port = free_port(), free_port()
        bare_server = running.start("bare", "apps:bare_app", bare_port)
        guarded = running.start("guarded", "apps:guarded_app", guarded_port)
        admin = running.processes[0]
        admin_port = int(running.admin_url.rsplit(":", 1)[1])
        cases = {
            # Every case gets the same request bytes (token and project header included),
            # so the ratios compare what the servers do with a request, not its size.
            BARE: (
                bare_server,
                bare_port,
                request_bytes("/api/v1/whoami", running.headers),
            ),
            NO_AUTH: (
                guarded,
                guarded_port,
                request_bytes("/api/v1/anonymous", running.headers),
            ),
            AUTHENTICATED: (
                guarded,
                guarded_port,
                request_bytes("/api/v1/whoami", running.headers),
            ),
            "admin GET /users/me (JWT + DB read)": (
                admin,
                admin_port,
                request_bytes("/api/v1/users/me", running.headers),
            ),
        }
        pin_load_generator()
        results: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _, port, request in cases.values():  # warm-up: fill the caches first
            asyncio.run(hammer(port, request, 1.0, args.connections))
        names = list(cases)
        for round_number in range(args.rounds):
            # Each round measures every case back to back, starting one case later each time:
            # a ratio is taken within a round, between figures the machine's load of that
            # moment affected alike.
            for name in rotated(names, round_number):
                process, port, request = cases[name]
                rate, cpu_us = measure(process, port, request, args.seconds, args.connections)
                results[name].append(rate)
                cpu[name].append(cpu_us)

    bare_rates = results[BARE]
    print(
        f"{args.rounds} rounds x {args.seconds:g} s, {args.connections} connections; "
        "ratios to bare FastAPI within each round, median (lowest-highest)"
    )
    for name in names:
        ratios = [rate / bare for rate, bare in zip(results[name], bare_rates, strict=True)]
        cpu_ratios = [bare / used for used, bare in zip(cpu[name], cpu[BARE], strict=True)]
        print(
            f"  {name:<40} {statistics.median(results[name]):7.0f} req/s   ratio "
            f"{statistics.median(ratios):4.2f} ({min(ratios):4.2f}-{max(ratios):4.2f})   "
            f"server CPU {statistics.median(cpu[name]):6.1f} µs/request "
            f"(ratio {statistics.median(cpu_ratios):4.2f})"
        )
    ratio = statistics.median(
        rate / bare for rate, bare in zip(results[AUTHENTICATED], bare_rates, strict=True)
    )
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print(f"authenticated / bare FastAPI = {ratio:.2f} ({verdict} the {TARGET_RATIO:.0%} target)")
    stack_ratio = statistics.median(
        rate / stack for rate, stack in zip(results[AUTHENTICATED], results[NO_AUTH], strict=True)
    )
    print(f"authenticated / same stack without auth = {stack_ratio:.2f} (the cost of auth alone)")


if __name__ == "__main__":
    main()
