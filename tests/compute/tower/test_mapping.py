"""Tower task records become task rows in PostgreSQL (tower.repository.PROGRESS_TASKS): the
very rows Python's mapping (tower.parsing.task_row, events.parsing.task_values, and
tasks.repository.merge_rows for a task named twice) makes of the same records, odd values
included. NaN and infinity, which the Python mapping kept, are no number here: left out."""

from __future__ import annotations

import json
import math
import uuid
from typing import Any

from sqlalchemy import select

from nfhub_compute.models import Task
from nfhub_compute.tasks.repository import MERGED_COLUMNS, merge_rows
from nfhub_compute.tower.parsing import task_row, task_rows
from support.tower import Nextflow, RunsOf, payload

COMPARED = ("task_id", "status", "status_rank", *MERGED_COLUMNS, "trace")
TEMPLATE = payload("progress")["tasks"][0]

# (field, value): each one record of its own, the template's other fields beside it.
ODD_VALUES: list[tuple[str, Any]] = [
    ("cpus", "6"), ("cpus", " 12 "), ("cpus", "abc"), ("cpus", "7.9"), ("cpus", 2**40),
    ("cpus", True), ("cpus", None), ("cpus", "-"), ("cpus", ".5"), ("cpus", "+3"),
    ("memory", "38654705664"), ("memory", "1e3"), ("memory", "1e999"), ("memory", 1e300),
    ("memory", -5), ("memory", 2**63), ("memory", 2**63 - 1), ("memory", 12.99),
    ("exit", 2147483647), ("exit", "1"), ("exit", -1), ("exit", 2**31),
    ("attempt", "2"), ("duration", "9000.7"), ("realtime", "nan"), ("realtime", "inf"),
    ("peakRss", "1E+05"), ("readBytes", "0x10"), ("writeBytes", ""),
    ("pcpu", "412.3%"), ("pcpu", " 99.5 "), ("pcpu", "abc"), ("pcpu", 0), ("pcpu", -3.25),
    ("pcpu", "1e3"), ("pcpu", 1.5e307),
    ("status", "running"), ("status", " completed "), ("status", "bogus"), ("status", None),
    ("status", ""), ("status", 5), ("status", "FAILED"), ("status", "cached"),
    ("hash", "-"), ("hash", ""), ("hash", "ab" * 40), ("hash", 12), ("hash", 1.5),
    ("tag", "-"), ("tag", "x" * 100_500), ("nativeId", "n" * 300), ("errorAction", "RETRY"),
    ("errorAction", "TERMINATE_AND_MORE"), ("hostname", "h" * 300), ("container", "-"),
    ("workdir", "/w/é/ü"), ("process", ""), ("process", "-"), ("process", "p" * 400),
    ("submit", "2024-05-14T08:26:31Z"), ("submit", "2024-05-14T08:26:31.123+02:00"),
    ("submit", "2024-05-14 08:26:31"), ("submit", "2024-05-14"), ("submit", "yesterday"),
    ("submit", ""), ("submit", "-"), ("submit", "1715674862870"), ("submit", 1715674862870),
    ("submit", 0), ("submit", -5), ("submit", "1960-01-01T00:00:00Z"), ("submit", 1.7e12),
    ("start", "2024-02-30T00:00:00Z"), ("start", "2024-05-14T08:26:31.1234567Z"),
    ("complete", None), ("complete", "2024-12-31T23:59:59.999-12:00"), ("complete", 10**17),
    ("script", "s" * 20_000), ("script", "-"), ("env", "A=1\nB=2"), ("module", ["a", "b"]),
    ("gpuMetrics", {"util": 1, "x": [1, 2]}), ("fooBar", 1), ("ABCDef", "x"), ("pmem", 1.2),
    ("cloudZone", None), ("priceModel", "-"),
]  # fmt: skip
NAMES = [
    {"name": "A:B (x)", "process": None}, {"name": "(x)", "process": None},
    {"name": " (x)", "process": None}, {"name": None, "process": None},
    {"name": "A:B", "process": "-"}, {"name": "n" * 600, "process": None},
]  # fmt: skip
TASK_IDS = ["42", "x", -1, 4.7, "1e3", None, " 77 ", 2**63, True]


def records() -> list[dict[str, Any]]:
    out = []
    for index, (field, value) in enumerate(ODD_VALUES):
        out.append({**TEMPLATE, "taskId": 1000 + index, field: value})
    for index, names in enumerate(NAMES):
        out.append({**TEMPLATE, "taskId": 2000 + index, **names})
    for task_id in TASK_IDS:
        out.append({**TEMPLATE, "taskId": task_id, "tag": f"id {task_id!r}"})
    return out


def as_json(trace: dict[str, Any]) -> Any:
    """A trace as JSON numbers compare: jsonb writes 1e300 out as 1000…0, an integer that
    the float 1e300 is not exactly equal to."""
    return json.loads(json.dumps(trace), parse_int=float)


def expected(row: dict[str, Any]) -> dict[str, Any]:
    values = {name: row[name] for name in COMPARED}
    values["trace"] = as_json(row["trace"])
    return values


async def stored(session_factory: Any, run_id: str) -> dict[int, dict[str, Any]]:
    async with session_factory() as session:
        tasks = (await session.scalars(select(Task).where(Task.run_id == uuid.UUID(run_id)))).all()
    rows = {task.task_id: {name: getattr(task, name) for name in COMPARED} for task in tasks}
    for row in rows.values():
        row["trace"] = as_json(row["trace"])
    return rows


async def reported(nextflow: Nextflow, runs_of: RunsOf, tasks: list[dict[str, Any]]) -> str:
    workflow_id = await nextflow.started()
    response = await nextflow.put(workflow_id, "progress", {"tasks": tasks})
    assert response.status_code == 200, response.text
    [run] = await runs_of()
    run_id: str = run["id"]
    return run_id


class TestMapping:
    async def test_each_record_is_the_row_the_python_mapping_makes(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        batch = records()
        # The process column holds 500 characters: Python's mapping has no cut for a process
        # taken from a long name; PostgreSQL's cuts it.
        wanted = {}
        for record in batch:
            row = task_row(record)
            if row is not None:
                row["process"] = row["process"][:500]
                wanted[row["task_id"]] = expected(row)

        rows = await stored(session_factory, await reported(nextflow, runs_of, batch))

        assert set(rows) == set(wanted)
        differing = {
            (task_id, name): (rows[task_id][name], value)
            for task_id, row in wanted.items()
            for name, value in row.items()
            if rows[task_id][name] != value
        }
        assert differing == {}, sorted(differing)

    async def test_a_task_named_several_times_merges_as_merge_rows_does(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        batch = [
            {**TEMPLATE, "taskId": 1, "status": "RUNNING", "hash": None, "queue": "q1"},
            {**TEMPLATE, "taskId": 1, "status": "SUBMITTED", "hash": "aa/1", "cpus": 3},
            {
                **TEMPLATE,
                "taskId": 1,
                "status": "RUNNING",
                "hash": None,
                "cpus": None,
                "queue": "q2",
            },
            {**TEMPLATE, "taskId": 2, "status": "COMPLETED", "exit": 0, "tag": None},
            {**TEMPLATE, "taskId": 2, "status": "FAILED", "exit": 1, "tag": "t", "x": 1},
            {**TEMPLATE, "taskId": 2, "status": "COMPLETED", "exit": 0, "y": 2},
            {**TEMPLATE, "taskId": 3, "status": "SUBMITTED"},
        ]
        wanted = {row["task_id"]: expected(row) for row in merge_rows(task_rows(batch))}

        rows = await stored(session_factory, await reported(nextflow, runs_of, batch))

        assert rows == wanted
        # The latest RUNNING has no hash and no cpus: the SUBMITTED's hash, the other RUNNING's
        # cpus; the later of the two RUNNING's queue.
        assert (rows[1]["status"], rows[1]["hash"], rows[1]["cpus"]) == ("RUNNING", "aa/1", 6)
        assert rows[1]["trace"]["queue"] == "q2"
        assert (rows[2]["status"], rows[2]["exit_status"], rows[2]["tag"]) == ("FAILED", 1, "t")

    async def test_nan_and_infinity_are_no_number_and_left_out(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        body = json.dumps(
            {
                "tasks": [
                    {**TEMPLATE, "taskId": 1, "pcpu": math.nan, "memory": math.inf},
                    {**TEMPLATE, "taskId": 2, "pcpu": -math.inf, "peakRss": 1e999},
                ],
                "progress": {"pending": math.nan},
            }
        ).encode()
        assert b"NaN" in body and b"Infinity" in body

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 200, response.text
        [run] = await runs_of()
        rows = await stored(session_factory, run["id"])
        assert (rows[1]["cpu_percent"], rows[1]["memory"]) == (None, None)
        assert (rows[2]["cpu_percent"], rows[2]["peak_rss"]) == (None, None)
        assert "%cpu" not in rows[1]["trace"] and "memory" not in rows[1]["trace"]
        assert rows[1]["trace"]["peak_rss"] == TEMPLATE["peakRss"]
