"""Tower task records into the task rows the weblog path writes.

The Tower client sends a TraceRecord in camelCase (``taskId``, ``peakRss``; ``%cpu`` becomes
``pcpu``) with its dates as ISO-8601 ``OffsetDateTime`` strings, where the weblog sends the
trace's own snake_case names and epoch milliseconds. Renamed and converted here, both end in
``events.parsing.task_values``: one way a task becomes a row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nfhub_compute.events.parsing import MAX_SCRIPT_CHARS, _int, parse_time, task_values

DATE_FIELDS = ("submit", "start", "complete")
RENAMED = {"pcpu": "%cpu", "pmem": "%mem"}
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


@functools.lru_cache(maxsize=1024)  # the same few dozen names in every task of every batch
def snake_case(name: str) -> str:
    return RENAMED.get(name) or _CAPITAL.sub("_", name).lower()


class SnakeNames(dict[str, str]):
    """snake_case by a dict lookup, the cheapest a comprehension can make (a cached function
    call costs twice as much per key); at most MAX_SNAKE_NAMES kept, as names are the
    client's to choose."""

    def __missing__(self, name: str) -> str:
        snake = snake_case(name)
        if len(self) < MAX_SNAKE_NAMES:
            self[name] = snake
        return snake


MAX_SNAKE_NAMES = 1024
SNAKE_NAMES = SnakeNames()


def task_row(task: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task row of one Tower task record; None when it names no task."""
    trace: dict[str, Any] = {snake_case(key): value for key, value in task.items()}
    for field in DATE_FIELDS:
        value = trace.get(field)
        if isinstance(value, str):
            moment = parse_time(value)
            trace[field] = int(moment.timestamp() * 1000) if moment is not None else None
    return task_values(trace)


def task_rows(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [row for row in map(task_row, tasks) if row is not None]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)
# What datetime.fromtimestamp takes (events.parsing.parse_time): up to the end of year 9999.
MAX_MILLIS = 253_402_300_799_999


def _valid_ms(millis: int | None) -> int | None:
    """``millis`` when events.parsing.parse_time takes it for a time, else None."""
    return millis if millis is not None and 0 < millis <= MAX_MILLIS else None


def iso_millis(value: str) -> int | None:
    """task_row's milliseconds of an ISO-8601 string (parse_time's reading, digits being
    epoch milliseconds), counted exactly rather than through a float."""
    if value.isdigit():
        return int(value) if _valid_ms(int(value)) is not None else None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // MILLISECOND


def progress_times(tasks: Sequence[Mapping[str, Any]]) -> dict[str, list[int | None]]:
    """The task dates of a progress batch, record by record, for
    tower.repository.PROGRESS_TASKS: ``<field>_ms``, what task_row puts in the trace for an
    ISO-8601 string (None: leave it out), and ``<field>_at``, the milliseconds of the task's
    column (None: no time), as task_row and events.parsing.task_values read them."""
    times: dict[str, list[int | None]] = {}
    for field in DATE_FIELDS:
        traced: list[int | None] = []
        column: list[int | None] = []
        for task in tasks:
            value = task.get(field)
            if isinstance(value, str):
                millis = iso_millis(value)
                traced.append(millis)
                column.append(_valid_ms(millis))
            else:
                traced.append(None)
                column.append(_valid_ms(_int(value)))
        times[f"{field}_ms"], times[f"{field}_at"] = traced, column
    return times


def progress_traces(
    tasks: Sequence[Mapping[str, Any]], times: Mapping[str, list[int | None]]
) -> list[dict[str, Any]]:
    """The trace task_row makes of each record of a progress batch, for
    tower.repository.PROGRESS_TASKS: keys in snake case, its ISO-8601 dates in the epoch
    milliseconds ``times`` (progress_times) read, nothing null or "-" (task_values' rule),
    nor NaN or infinity (which jsonb cannot hold), the script cut. Built here: in SQL they
    were a quarter of a call's database time (bench/compute.py)."""
    snake = SNAKE_NAMES
    dates = [(field, times[f"{field}_ms"]) for field in DATE_FIELDS]
    traces: list[dict[str, Any]] = []
    for index, task in enumerate(tasks):
        # x - x is 0.0 for a finite float only (NaN and infinity give NaN).
        trace = {
            snake[key]: value
            for key, value in task.items()
            if value is not None
            and value != "-"
            and (type(value) is not float or value - value == 0.0)
        }
        for field, traced in dates:
            if type(trace.get(field)) is str:
                millis = traced[index]
                if millis is None:
                    del trace[field]
                else:
                    trace[field] = millis
        script = trace.get("script")
        if type(script) is str and len(script) > MAX_SCRIPT_CHARS:
            trace["script"] = script[:MAX_SCRIPT_CHARS]
        traces.append(trace)
    return traces
