"""Log shipping's reads: from the last shipped offset vs from the start, measured in one run.

    uv run python bench/logship.py [--lines 200000] [--passes 50] [--rounds 3]

A run's .nextflow.log grows by ``--lines / --passes`` lines between the worker's passes; each
pass ships what was added, in chunks of CHUNK_LINES (worker/logship.py). Measured: the time
all passes spend reading the file through the backend (read_log, from the byte offset the
last chunk ended at), against the baseline, the way it read before: every chunk enumerated
the file from its first line to find the chunk's lines (up to CHUNKS_PER_PASS whole reads a
pass). The database side is the same in both and left out. Alternating rounds; medians count.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from nfhub_compute.backends.launchdir import read_log, redact_secrets
from nfhub_compute.worker.logship import CHUNK_LINES, CHUNKS_PER_PASS


def read_from_start(path: Path, offset: int, limit: int) -> tuple[list[str], int]:
    """The former read: the lines ``offset`` to ``offset + limit``, found from line 0."""
    lines: list[str] = []
    count = 0
    with path.open("r", encoding="utf-8", errors="replace") as stream:
        for number, line in enumerate(stream):
            if offset <= number < offset + limit:
                lines.append(redact_secrets(line.rstrip("\n")))
            count = number + 1
    return lines, count


def ship_from_start(path: Path, shipped: int) -> int:
    """One pass as before: chunks found from the start; the last line held back."""
    for _ in range(CHUNKS_PER_PASS):
        lines, count = read_from_start(path, shipped, CHUNK_LINES)
        at_end = shipped + len(lines) >= count
        if at_end:
            lines = lines[:-1]
        if not lines:
            return shipped
        shipped += len(lines)
        if at_end:
            return shipped
    return shipped


async def ship_from_offset(launch: Path, start: int) -> int:
    """One pass now: chunks read from the byte offset the last one ended at."""
    for _ in range(CHUNKS_PER_PASS):
        read = await read_log(launch, source="nextflow", start=start, limit=CHUNK_LINES)
        if not read.lines:
            return start
        start = read.end
        if read.at_end:
            return start
    return start


def line(number: int) -> str:
    return (
        f"Dec-07 14:{number // 60 % 60:02d}:{number % 60:02d}.123 [Task submitter] INFO  "
        f"nextflow.Session - [ab/{number:06x}] Submitted process > FASTQC (S{number})\n"
    )


async def measure(lines: int, passes: int, *, from_offset: bool) -> float:
    """Seconds spent reading across all passes of one growing log."""
    per_pass = lines // passes
    with tempfile.TemporaryDirectory() as folder:
        launch = Path(folder)
        path = launch / ".nextflow.log"
        path.touch()
        position = 0
        spent = 0.0
        written = 0
        for _ in range(passes):
            with path.open("a", encoding="utf-8") as stream:
                stream.write("".join(line(n) for n in range(written, written + per_pass)))
            written += per_pass
            began = time.perf_counter()
            if from_offset:
                position = await ship_from_offset(launch, position)
            else:
                position = await asyncio.to_thread(ship_from_start, path, position)
            spent += time.perf_counter() - began
        return spent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--passes", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    before: list[float] = []
    now: list[float] = []
    for _ in range(args.rounds):
        before.append(await measure(args.lines, args.passes, from_offset=False))
        now.append(await measure(args.lines, args.passes, from_offset=True))
    baseline, measured = statistics.median(before), statistics.median(now)
    print(f"log shipping reads, {args.lines} lines in {args.passes} passes "
          f"({args.rounds} rounds, medians)")  # fmt: skip
    print(f"  from the start (before):  {baseline * 1000:9.1f} ms")
    print(f"  from the offset (now):    {measured * 1000:9.1f} ms")
    print(f"  ratio before / now:       {baseline / measured:9.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
