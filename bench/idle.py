"""What an idle compute worker and files service cost: CPU per minute, nothing to do.

    uv run python bench/idle.py [--seconds 60] [--reconcile 0.3] [--dispatch 0.5]

A worker (local backend, no run) and files (its archive worker on) left alone after their
start; measured: utime + stime of each process (/proc/<pid>/stat) and of the PostgreSQL
backends serving them (by application_name) over ``--seconds``. The defaults are the live
tests' worker settings (tests/support/live.py); --reconcile 2 --dispatch 2 are production's.
To compare two commits, run it on each in one sitting: the machine's load moves the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from common import Stack, free_port, stack

from nfhub_compute.migrate import migrate as migrate_compute
from nfhub_files.migrate import migrate as migrate_files
from nfhub_shared.db.listen import asyncpg_dsn

TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP_SECONDS = 5.0


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


async def backends(database_url: str) -> dict[int, str]:
    """The PostgreSQL backends of the database: pid -> application_name."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        rows = await connection.fetch(
            "SELECT pid, application_name FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return {row["pid"]: row["application_name"] or "?" for row in rows}


def start(running: Stack, args: argparse.Namespace) -> dict[str, int]:
    files_port = free_port()
    files = running.start(
        "files",
        "nfhub_files.main:create_app",
        files_port,
        {
            "FILES_LOCAL_ROOT": str(running.workdir / "storage"),
            "FILES_URL": f"http://127.0.0.1:{files_port}",
        },
    )
    worker = running.start_process(
        "worker",
        ["-m", "nfhub_compute.worker"],
        {
            "COMPUTE_BACKEND": "local",
            "COMPUTE_WORK_ROOT": str(running.workdir / "compute"),
            "COMPUTE_RECONCILE_INTERVAL_SECONDS": str(args.reconcile),
            "COMPUTE_DISPATCH_POLL_SECONDS": str(args.dispatch),
        },
    )
    return {"files": files.pid, "worker": worker.pid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reconcile", type=float, default=0.3)
    parser.add_argument("--dispatch", type=float, default=0.5)
    args = parser.parse_args()
    with stack(migrations=[migrate_compute, migrate_files]) as running:
        pids = start(running, args)
        for _ in range(300):  # the worker's start (imports, first connections) is not idle
            if "compute-worker" in asyncio.run(backends(running.database_url)).values():
                break
            time.sleep(0.1)
        time.sleep(WARM_UP_SECONDS)
        if any(process.poll() is not None for process in running.processes):
            raise SystemExit(f"a process died; see {running.workdir}")
        serving = asyncio.run(backends(running.database_url))
        before = {pid: cpu_seconds(pid) for pid in [*pids.values(), *serving]}
        time.sleep(args.seconds)
        # A backend gone meanwhile (its pid reads 0 then) counts for nothing.
        after = {pid: max(cpu_seconds(pid), used) for pid, used in before.items()}
    per_minute = 60.0 / args.seconds
    print(f"idle for {args.seconds:g} s (reconcile every {args.reconcile:g} s, dispatch poll "
          f"every {args.dispatch:g} s): CPU s per minute, utime + stime")  # fmt: skip
    for name, pid in pids.items():
        print(f"  {name:28s} {(after[pid] - before[pid]) * per_minute:6.2f}")
    by_name: dict[str, float] = {}
    for pid, name in serving.items():
        by_name[name] = by_name.get(name, 0.0) + after[pid] - before[pid]
    for name, used in sorted(by_name.items()):
        print(f"  postgres for {name:15s} {used * per_minute:6.2f}")


if __name__ == "__main__":
    main()
