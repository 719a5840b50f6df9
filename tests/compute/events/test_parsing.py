"""The tolerant readers behind ingestion: times in every shape Nextflow uses, task values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nfhub_compute.events.parsing import UNSET_EXIT, parse_time, read_event, task_values

MAY_14 = datetime(2024, 5, 14, 8, 21, 2, 870000, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-14T08:21:02.870Z",
        "2024-05-14T10:21:02.870+02:00",
        1715674862870,
        "1715674862870",
        {"year": 2024, "monthValue": 5, "dayOfMonth": 14, "hour": 8, "minute": 21,
         "second": 2, "nano": 870000000, "offset": {"totalSeconds": 0, "id": "Z"}},
        {"year": 2024, "monthValue": 5, "dayOfMonth": 14, "hour": 10, "minute": 21,
         "second": 2, "nano": 870000000, "offset": {"totalSeconds": 7200}},
    ],
)  # fmt: skip
def test_every_shape_of_the_same_moment_reads_the_same(value: Any) -> None:
    assert parse_time(value) == MAY_14


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "-",
        0,
        -5,
        True,
        "yesterday",
        {"year": "x"},
        [2024],
        10**20,
        float("nan"),
        float("inf"),
    ],
)
def test_what_is_not_a_time_is_none(value: Any) -> None:
    assert parse_time(value) is None


def test_a_trace_reads_epoch_ms_bytes_and_the_unset_exit() -> None:
    values = task_values(
        {"task_id": "7", "status": "submitted", "name": "P:Q (s1)", "exit": UNSET_EXIT,
         "submit": 1715674862870, "memory": "38654705664", "%cpu": "412.3%", "hash": "-",
         "time": "14400000"}
    )  # fmt: skip

    assert values is not None
    assert (values["task_id"], values["status"], values["process"]) == (7, "SUBMITTED", "P:Q")
    assert values["exit_status"] is None and values["hash"] is None
    assert values["submit_at"] == MAY_14 and values["memory"] == 38654705664
    assert values["cpu_percent"] == 412.3
    assert values["time_ms"] == 14400000  # the time directive (what the task asked for)


@pytest.mark.parametrize(
    "trace",
    [
        {},
        {"task_id": "x"},
        {"task_id": -1},
        {"task_id": None},
        # JSON allows NaN and 1e999 (infinity): one such number must not fail a whole batch
        {"task_id": float("nan")},
        {"task_id": float("inf")},
        {"task_id": "1e999"},
    ],
)
def test_a_trace_without_a_task_id_names_no_task(trace: dict[str, Any]) -> None:
    assert task_values(trace) is None


@pytest.mark.parametrize("key", ["parameters", "params"])
def test_both_metadata_shapes_are_read(key: str) -> None:
    event = read_event(
        b'{"event": "started", "metadata": {"%s": {"a": 1}, "workflow": {"sessionId": "s"}}}'
        % key.encode()
    )

    assert event.kind == "started" and event.workflow == {"sessionId": "s"}
    assert event.params == {"a": 1}
