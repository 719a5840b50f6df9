"""Following a run to its end, as ``tw launch --wait`` does: a live per-process table on a
terminal, one line per state change in a CI log, and an exit code from the final state."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from nfhub_cli.api import Api

FINAL_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})
COUNTS = ("submitted", "running", "succeeded", "cached", "failed", "aborted")


def progress_table(progress: dict[str, Any], run: dict[str, Any]) -> Table:
    table = Table(
        "process", *COUNTS, title=f"{run['name']}  {progress['state']}", title_justify="left"
    )
    for item in progress["processes"]:
        table.add_row(item["process"], *(str(item[key]) for key in COUNTS))
    totals = progress["totals"]
    table.add_row("[bold]total[/]", *(f"[bold]{totals[key]}[/]" for key in COUNTS))
    return table


def watch_run(
    api: Api,
    run_id: str,
    interval: float,
    *,
    console: Console,
    timeout: float | None = None,
) -> int:
    """0 when the run completed, 1 when it ended otherwise (or ``timeout`` passed first)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    last_state = None
    live = Live(console=console, auto_refresh=False) if console.is_terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            run = api.json("compute", "GET", f"/runs/{run_id}")
            progress = api.json("compute", "GET", f"/runs/{run_id}/progress")
            if live is not None:
                live.update(progress_table(progress, run), refresh=True)
            if run["state"] != last_state:
                totals = progress["totals"]
                failed = f", {totals['failed']} failed" if totals["failed"] else ""
                console.print(
                    f"{time.strftime('%H:%M:%S')} {run['name']} {run['state']}  tasks "
                    f"{totals['succeeded'] + totals['cached']}/{totals['total']} done{failed}"
                )
                last_state = run["state"]
            if run["state"] in FINAL_STATES:
                break
            if deadline is not None and time.monotonic() > deadline:
                console.print(f"[red]still {run['state']} after {timeout:g} s[/]")
                return 1
            time.sleep(interval)
    finally:
        if live is not None:
            live.stop()
    if run["state"] == "COMPLETE":
        return 0
    reason = run.get("state_reason") or run.get("error_message") or ""
    console.print(f"[red]{run['state']}[/] {reason}".rstrip())
    return 1
