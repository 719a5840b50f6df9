"""Nextflow's weblog payloads and trace-file rows, read tolerantly into task and run values.

What Nextflow really sends (see ../shared/fixtures/nextflow/weblog/): ``workflow.start`` as a
java.time object (``{year, monthValue, dayOfMonth, hour, …, offset: {totalSeconds}}``) or an
ISO string, ``metadata.parameters`` (older versions: ``params``), task times in epoch
milliseconds (0 = not yet), ``exit`` 2147483647 until a task ends, and ``runId`` reused on
resume. Unknown fields are ignored, missing ones left as they were.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from nfhub_compute.events.text import json_holds_nul
from nfhub_shared.errors import BadRequest

UNSET_EXIT = 2147483647
MAX_SCRIPT_CHARS = 10_000
MAX_TEXT_CHARS = 100_000

# A task's status only moves up this ranking, whatever order events arrive in; ties break
# the same way every time, so a shuffled or replayed stream ends where the clean one does.
TASK_STATUS_RANK = {
    "NEW": 0,
    "SUBMITTED": 1,
    "RUNNING": 2,
    "CACHED": 3,
    "COMPLETED": 4,
    "ABORTED": 5,
    "FAILED": 6,
}

WORKFLOW_FIELDS = (
    "sessionId", "runName", "projectName", "repository", "revision", "commitId", "scriptName",
    "workDir", "launchDir", "profile", "containerEngine", "resume", "stubRun",
)  # fmt: skip


@dataclass(frozen=True)
class Event:
    kind: str
    utc_time: datetime | None
    workflow: Mapping[str, Any]
    trace: Mapping[str, Any] | None
    # The parameters as Nextflow resolved them (config defaults included).
    params: Mapping[str, Any] | None = None


def read_event(body: bytes) -> Event:
    """The event in a request body; 400 when it is not a JSON object, or holds the NUL
    character PostgreSQL cannot store (it would fail the whole batch of events it is
    written with, events.writer)."""
    if json_holds_nul(body):
        raise BadRequest(
            "The event contains the NUL character (\\u0000), which nfhub cannot store."
        )
    try:
        document = _loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"The event is not valid JSON: {exc}.") from exc
    if not isinstance(document, dict):
        raise BadRequest("The event must be a JSON object, as Nextflow's weblog sends.")
    metadata = document.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    workflow = metadata.get("workflow")
    # nf-weblog sends metadata.parameters; older Nextflow versions sent metadata.params.
    params = metadata.get("parameters", metadata.get("params"))
    trace = document.get("trace")
    return Event(
        kind=str(document.get("event") or "").strip().lower(),
        utc_time=parse_time(document.get("utcTime")),
        workflow=workflow if isinstance(workflow, dict) else {},
        trace=trace if isinstance(trace, dict) else None,
        params=params if isinstance(params, dict) else None,
    )


def _loads(body: bytes) -> Any:
    """orjson where it can (several times faster); the standard library for the documents it
    refuses and json accepts (NaN, Infinity, a lone surrogate, UTF-16, a byte order mark), so
    that the same bodies are accepted as before, and a refusal reads as json's."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string, epoch milliseconds, or a serialised java.time OffsetDateTime."""
    if value is None or value == "" or value == "-":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:  # NaN and infinity (JSON allows them) are no time either
            millis = int(value)
            return datetime.fromtimestamp(millis / 1000, UTC) if millis > 0 else None
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, Mapping):
        try:
            offset = value.get("offset")
            seconds = int(offset.get("totalSeconds", 0)) if isinstance(offset, Mapping) else 0
            return datetime(
                int(value["year"]),
                int(value.get("monthValue") or value.get("month_value") or 1),
                int(value["dayOfMonth"]),
                int(value.get("hour", 0)),
                int(value.get("minute", 0)),
                int(value.get("second", 0)),
                int(value.get("nano", 0)) // 1000,
                tzinfo=timezone(timedelta(seconds=seconds)),
            ).astimezone(UTC)
        except (KeyError, TypeError, ValueError, OverflowError):
            return None
    return None


# The helpers below look at ``type(value) is ...`` first: a trace is nearly all plain ints
# and strings, and the exact-type test skips the isinstance chain (bool is no int here).


def _int(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                return int(float(text))
            except (ValueError, OverflowError):  # "nan", "inf", "1e999"
                return None
    return None


def _float(value: Any) -> float | None:
    """A finite float: NaN and infinity (JSON allows them, "nan" is a float's text) are no
    number, as for the integers."""
    if type(value) is not float:
        if value is None or isinstance(value, bool):
            return None
        try:
            value = float(value.rstrip("%")) if isinstance(value, str) else float(value)
        except (TypeError, ValueError, OverflowError):
            return None
    return value if math.isfinite(value) else None


def _text(value: Any, limit: int = 500) -> str | None:
    if type(value) is str:
        return value[:limit] if value and value != "-" else None
    if value is None:
        return None
    return str(value)[:limit]


INT32 = 2**31 - 1
INT64 = 2**63 - 1


def _bounded(value: int | None, limit: int) -> int | None:
    """``value`` if its column can hold it, else None: events from many requests share one
    transaction (events.writer), and one value out of range must not fail the others'."""
    return value if value is None or -limit - 1 <= value <= limit else None


def _int32(value: Any) -> int | None:
    if type(value) is int:
        return value if -INT32 - 1 <= value <= INT32 else None
    return _bounded(_int(value), INT32)


def _int64(value: Any) -> int | None:
    if type(value) is int:
        return value if -INT64 - 1 <= value <= INT64 else None
    return _bounded(_int(value), INT64)


def _epoch_ms(value: Any) -> datetime | None:
    """A trace's time (epoch milliseconds, 0 = not yet): parse_time of its integer."""
    millis = _int(value)
    if millis is None or millis <= 0:
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def task_values(trace: Mapping[str, Any]) -> dict[str, Any] | None:
    """The task columns of one trace (weblog JSON or a trace-file row); None without a task id.
    A number too large for its column is left out (None), like one that is not a number."""
    task_id = _int64(trace.get("task_id"))
    if task_id is None or task_id < 0:
        return None
    status = str(trace.get("status") or "NEW").strip().upper()
    if status not in TASK_STATUS_RANK:
        status = "NEW"
    name = _text(trace.get("name"), MAX_TEXT_CHARS)
    process = _text(trace.get("process")) or (name.split(" (", 1)[0] if name else None)
    exit_status = _int32(trace.get("exit"))
    raw = {key: value for key, value in trace.items() if value is not None and value != "-"}
    if isinstance(raw.get("script"), str):
        raw["script"] = raw["script"][:MAX_SCRIPT_CHARS]
    return {
        "task_id": task_id,
        "status": status,
        "status_rank": TASK_STATUS_RANK[status],
        "hash": _text(trace.get("hash"), 64),
        "name": name,
        "process": process or "unknown",
        "tag": _text(trace.get("tag"), MAX_TEXT_CHARS),
        "native_id": _text(trace.get("native_id"), 200),
        "exit_status": None if exit_status == UNSET_EXIT else exit_status,
        "attempt": _int32(trace.get("attempt")),
        "error_action": _text(trace.get("error_action"), 16),
        "workdir": _text(trace.get("workdir"), MAX_TEXT_CHARS),
        "container": _text(trace.get("container"), MAX_TEXT_CHARS),
        "hostname": _text(trace.get("hostname"), 255),
        "cpus": _int32(trace.get("cpus")),
        "memory": _int64(trace.get("memory")),
        "time_ms": _int64(trace.get("time")),
        "submit_at": _epoch_ms(trace.get("submit")),
        "start_at": _epoch_ms(trace.get("start")),
        "complete_at": _epoch_ms(trace.get("complete")),
        "duration_ms": _int64(trace.get("duration")),
        "realtime_ms": _int64(trace.get("realtime")),
        "cpu_percent": _float(trace.get("%cpu")),
        "peak_rss": _int64(trace.get("peak_rss")),
        "peak_vmem": _int64(trace.get("peak_vmem")),
        "read_bytes": _int64(trace.get("read_bytes")),
        "write_bytes": _int64(trace.get("write_bytes")),
        "trace": raw,
    }


def started_values(
    workflow: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Run columns from a ``started`` event's metadata (workflow and parameters)."""
    nextflow = workflow.get("nextflow")
    summary = {key: workflow[key] for key in WORKFLOW_FIELDS if key in workflow}
    if params is not None:
        summary["params"] = dict(params)
    if isinstance(nextflow, Mapping) and nextflow.get("version"):
        summary["nextflowVersion"] = str(nextflow["version"])
    return {
        "session_id": _text(workflow.get("sessionId"), 64),
        "workflow_started_at": parse_time(workflow.get("start")),
        "workflow": summary,
    }


def completed_values(workflow: Mapping[str, Any]) -> dict[str, Any]:
    """Run columns from a ``completed`` event's metadata.workflow."""
    stats = workflow.get("stats")
    success = workflow.get("success")
    return {
        "workflow_completed_at": parse_time(workflow.get("complete")),
        "workflow_success": success if isinstance(success, bool) else None,
        "error_message": _text(workflow.get("errorMessage"), MAX_TEXT_CHARS),
        "error_report": _text(workflow.get("errorReport"), MAX_TEXT_CHARS),
        "stats": dict(stats) if isinstance(stats, Mapping) else None,
    }
