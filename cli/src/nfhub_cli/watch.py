"""Following a run to its end, as ``tw launch --wait`` does: a live per-process table on a
terminal, one line per state change in a CI log, and an exit code from the final state.

News comes from the run's event stream (GET /runs/{id}/stream, Server-Sent Events, which
the server ends with an ``end`` event once the run has ended): the counters are read again
when an event says they changed, at most once per ``interval``. A server without the stream
(older than the feature) is polled every ``interval`` instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from nfhub_cli.api import Api, ApiError

FINAL_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})
COUNTS = ("submitted", "running", "succeeded", "cached", "failed", "aborted")
# The server sends a comment every 15 s by default: this long without a byte, the stream is
# taken for dead and opened again from the last event.
STREAM_READ_TIMEOUT = 60.0
STREAM_RECONNECTS = 5


class StreamUnavailable(Exception):
    """The server has no event stream for runs: poll."""


class TimedOut(Exception):
    pass


@dataclass
class Event:
    id: str | None
    kind: str
    data: dict[str, Any]


def progress_table(progress: dict[str, Any], run: dict[str, Any]) -> Table:
    table = Table(
        "process", *COUNTS, title=f"{run['name']}  {progress['state']}", title_justify="left"
    )
    for item in progress["processes"]:
        table.add_row(item["process"], *(str(item[key]) for key in COUNTS))
    totals = progress["totals"]
    table.add_row("[bold]total[/]", *(f"[bold]{totals[key]}[/]" for key in COUNTS))
    return table


def sse_events(lines: Iterator[str]) -> Iterator[Event | None]:
    """Server-Sent Events from lines; None for a comment (a heartbeat)."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield Event(event_id, kind, json.loads("\n".join(data)))
            event_id, kind, data = None, "message", []
        elif line.startswith(":"):
            yield None
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "id":
                event_id = value
            elif name == "event":
                kind = value
            elif name == "data":
                data.append(value)


class Watcher:
    def __init__(
        self, api: Api, run_id: str, interval: float, console: Console, timeout: float | None
    ) -> None:
        self.api = api
        self.run_id = run_id
        self.interval = interval
        self.console = console
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.last_state: str | None = None
        self.live = Live(console=console, auto_refresh=False) if console.is_terminal else None
        self.run: dict[str, Any] = {}

    def show(self) -> None:
        """Read the run and its counters; print a line when its state changed."""
        run = self.api.json("compute", "GET", f"/runs/{self.run_id}")
        progress = self.api.json("compute", "GET", f"/runs/{self.run_id}/progress")
        self.run = run
        if self.live is not None:
            self.live.update(progress_table(progress, run), refresh=True)
        if run["state"] != self.last_state:
            totals = progress["totals"]
            failed = f", {totals['failed']} failed" if totals["failed"] else ""
            self.console.print(
                f"{time.strftime('%H:%M:%S')} {run['name']} {run['state']}  tasks "
                f"{totals['succeeded'] + totals['cached']}/{totals['total']} done{failed}"
            )
            self.last_state = run["state"]

    def finished(self) -> bool:
        if self.run.get("state") in FINAL_STATES:
            return True
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TimedOut
        return False

    def poll(self) -> None:
        while True:
            self.show()
            if self.finished():
                return
            time.sleep(self.interval)

    def follow(self) -> None:
        """Follow the event stream, reconnecting from the last event when it breaks."""
        last_id: str | None = None
        failures = 0
        while True:
            try:
                last_id = self._follow_once(last_id)
                return
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                failures += 1
                if failures > STREAM_RECONNECTS:
                    raise StreamUnavailable(f"the stream broke {failures} times: {exc}") from exc
                self.api.sleep(min(2.0**failures / 4, 5.0))

    def _follow_once(self, last_id: str | None) -> str | None:
        client = self.api.client("compute")
        headers = {**self.api.headers(project=True), "Accept": "text/event-stream"}
        if last_id is not None:
            headers["Last-Event-ID"] = last_id
        timeout = httpx.Timeout(client.timeout.connect, read=STREAM_READ_TIMEOUT)
        with client.stream(
            "GET", f"/runs/{self.run_id}/stream", headers=headers, timeout=timeout
        ) as response:
            if response.status_code in (404, 405, 406, 501) or not response.headers.get(
                "content-type", ""
            ).startswith("text/event-stream"):
                response.read()
                # A 404 for a run that exists: a server from before the stream.
                self.api.json("compute", "GET", f"/runs/{self.run_id}")
                raise StreamUnavailable(f"HTTP {response.status_code}")
            if response.status_code != 200:
                response.read()
                raise ApiError(f"the run's stream answered HTTP {response.status_code}")
            # Subscribed: what happens from now on comes as events, so reading the run now
            # misses nothing.
            self.show()
            if self.finished():
                return last_id
            shown_at = time.monotonic()
            stale = False
            for event in sse_events(response.iter_lines()):
                if event is not None:
                    last_id = event.id or last_id
                    stale = True
                    final = event.kind == "end" or (
                        event.kind == "run" and event.data.get("state") in FINAL_STATES
                    )
                    if final or time.monotonic() - shown_at >= self.interval:
                        self.show()
                        shown_at, stale = time.monotonic(), False
                elif stale and time.monotonic() - shown_at >= self.interval:
                    self.show()
                    shown_at, stale = time.monotonic(), False
                if self.finished():
                    return last_id
        # The server ends a run's stream once the run has ended (after an `end` event): read
        # the run, and only if it has not ended is this a broken stream to open again.
        self.show()
        if self.finished():
            return last_id
        raise httpx.RemoteProtocolError("the stream ended")


def watch_run(
    api: Api,
    run_id: str,
    interval: float,
    *,
    console: Console,
    timeout: float | None = None,
    stream: bool = True,
) -> int:
    """0 when the run completed, 1 when it ended otherwise (or ``timeout`` passed first)."""
    watcher = Watcher(api, run_id, interval, console, timeout)
    if watcher.live is not None:
        watcher.live.start()
    try:
        if stream:
            try:
                watcher.follow()
            except StreamUnavailable as exc:
                console.print(f"[dim]no event stream ({exc}); asking every {interval:g} s[/]")
                watcher.poll()
        else:
            watcher.poll()
    except TimedOut:
        console.print(f"[red]still {watcher.run.get('state')} after {timeout:g} s[/]")
        return 1
    finally:
        if watcher.live is not None:
            watcher.live.stop()
    run = watcher.run
    if run["state"] == "COMPLETE":
        return 0
    reason = run.get("state_reason") or run.get("error_message") or ""
    console.print(f"[red]{run['state']}[/] {escape(reason)}".rstrip())
    if run.get("error"):
        show_error(console, run["error"], shown=reason)
    return 1


def show_error(console: Console, error: dict[str, Any], *, shown: str = "") -> None:
    """A failed run's ``error``: the failing task, its exit status, the end of its stderr
    (``shown``: the reason already printed, not repeated)."""
    if error.get("task_name") or error.get("process"):
        attempt = f", attempt {error['attempt']}" if error.get("attempt") else ""
        name = error.get("task_name") or error["process"]
        console.print(f"  failed task: {escape(name)} (task {error.get('task_id')}{attempt})")
    if error.get("exit_code") is not None:
        of = "Nextflow's exit status" if error.get("exit_code_of") == "nextflow" else "exit status"
        meaning = f": {error['exit_meaning']}" if error.get("exit_meaning") else ""
        console.print(f"  {of} {error['exit_code']}{escape(meaning)}")
    message = error.get("message")
    if message and message != shown:
        console.print(f"  message: {escape(message)}")
    if error.get("work_dir"):
        console.print(f"  work dir: {escape(error['work_dir'])}")
    tail = error.get("stderr_tail") or []
    if tail:
        console.print("  last lines of its stderr:")
        for line in tail:
            console.print(f"    {escape(line)}", highlight=False)
    if error.get("logs_url"):
        console.print(f"  the task's files: GET {escape(error['logs_url'])}")
