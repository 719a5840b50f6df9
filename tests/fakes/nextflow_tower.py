"""The Tower client of the nextflow stand-in (tests/fakes/nextflow), after Nextflow's own
(nextflow-io/nextflow plugins/nf-tower TowerClient.groovy): what it sends, when, how it
authenticates, and which failures abort the run (create, begin) or are only logged
(progress, heartbeat, complete). Payload shapes: tests/fixtures/tower/.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import queue
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

DEFAULT_ENDPOINT = "https://api.cloud.seqera.io"
TASKS_PER_REQUEST = 100
REQUEST_INTERVAL = 1.0  # tower.requestInterval
ALIVE_INTERVAL = 60.0  # tower.aliveInterval
DONE = object()  # the sender's last event (TowerClient's ProcessEvent(completed: true))
DATE_FIELDS = ("submit", "start", "complete")
UNAUTHORIZED = (
    "Unauthorized Seqera Platform API access -- Make sure you have specified the correct "
    "access token"
)

Log = Callable[[str, str, str], None]
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)?\s*$")
UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def seconds(text: str | None, default: float) -> float:
    """A Nextflow duration ('500ms', '5s', '1min') in seconds."""
    match = DURATION.match(text or "")
    if not match:
        return default
    return float(match.group(1)) * UNITS[match.group(2) or "ms"]


class TowerAbort(Exception):
    """Nextflow's AbortOperationException: the run stops with this message."""


def camel_case(name: str) -> str:
    """TowerClient.makeTaskMap0: '%' prefix → 'p', then underscore_case → camelCase."""
    if name.startswith("%"):
        name = "p" + name[1:]
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def iso_time(value: Any) -> str | None:
    """A TraceRecord date (epoch ms, 0 = not yet) as the client's JSON has it: an ISO-8601
    OffsetDateTime in the JVM's zone."""
    if not isinstance(value, int) or value <= 0:
        return None
    moment = datetime.fromtimestamp(value / 1000, UTC).astimezone()
    return moment.isoformat(timespec="milliseconds")


def auth_header(token: str) -> str:
    """TowerClient.setAuthToken: a JWT, or a base64 token whose first part is JSON, is a
    bearer token; any other is sent as Basic credentials "@token:<token>"."""
    if token.count(".") == 2:
        return f"Bearer {token}"
    try:
        plain = base64.b64decode(token, validate=True).decode()
        if "." in plain and json.loads(plain[: plain.index(".")]):
            return f"Bearer {token}"
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    return "Basic " + base64.b64encode(f"@token:{token}".encode()).decode()


def task_record(trace: Mapping[str, Any]) -> dict[str, Any]:
    record = {camel_case(key): value for key, value in trace.items()}
    for field in DATE_FIELDS:
        if field in record:
            record[field] = iso_time(record[field])
    record.setdefault("executor", "local")
    for field in ("cloudZone", "machineType", "priceModel"):
        record.setdefault(field, None)
    return record


def _ratio(value: Any, request: Any, scale: float) -> float | None:
    if not value or not request:
        return None
    return float(value) / float(request) * scale


# ReportSummary's series (nextflow-io/nextflow ReportSummary.groovy): a value per task, None
# for a task without one.
SERIES: dict[str, Callable[[Mapping[str, Any]], float | None]] = {
    "cpu": lambda t: None if t.get("%cpu") is None else float(t["%cpu"]),
    "mem": lambda t: None if t.get("peak_rss") is None else float(t["peak_rss"]),
    "vmem": lambda t: None if t.get("peak_vmem") is None else float(t["peak_vmem"]),
    "time": lambda t: None if t.get("realtime") is None else float(t["realtime"]),
    "reads": lambda t: None if t.get("rchar") is None else float(t["rchar"]),
    "writes": lambda t: None if t.get("wchar") is None else float(t["wchar"]),
    "cpuUsage": lambda t: _ratio(t.get("%cpu"), t.get("cpus") or 1, 1.0),
    "memUsage": lambda t: _ratio(t.get("peak_rss"), t.get("memory"), 100.0),
    "timeUsage": lambda t: _ratio(t.get("realtime"), t.get("time"), 100.0),
}


def series_summary(tasks: list[tuple[str, float]]) -> dict[str, Any] | None:
    """ReportSummary.Summary.compute: mean, min, quartiles (R's summary: linear between
    ranks), max, rounded to 2 decimals, with the task names; None for no value or all 0."""
    if not tasks:
        return None
    ordered = sorted(tasks, key=lambda task: task[1])
    names = {}

    def quantile(q: int) -> float:
        j = (len(ordered) - 1) * q / 100
        i = int(j)
        names[q] = ordered[i][0]
        if j == i:
            return ordered[i][1]
        return ordered[i][1] + (j - i) * (ordered[i + 1][1] - ordered[i][1])

    result: dict[str, Any] = {"mean": round(sum(v for _, v in tasks) / len(tasks), 2)}
    for key, q in (("min", 0), ("q1", 25), ("q2", 50), ("q3", 75), ("max", 100)):
        result[key] = round(quantile(q), 2)
    if result["min"] == 0 and result["max"] == 0:
        return None
    result.update(minLabel=names[0], maxLabel=names[100], q1Label=names[25],
                  q2Label=names[50], q3Label=names[75])  # fmt: skip
    return result


class Metrics:
    """ResourcesAggregator: each completed (or failed) and cached task, by process simple
    name (the last part of its qualified name)."""

    def __init__(self) -> None:
        self.tasks: dict[str, list[Mapping[str, Any]]] = {}

    def add(self, trace: Mapping[str, Any]) -> None:
        process = str(trace.get("process") or "").rsplit(":", 1)[-1]
        self.tasks.setdefault(process, []).append(trace)

    def summary(self) -> list[dict[str, Any]]:
        entries = []
        for process, traces in self.tasks.items():
            entry: dict[str, Any] = {"process": process}
            for name, metric in SERIES.items():
                values = [(str(t.get("name")), v) for t in traces if (v := metric(t)) is not None]
                entry[name] = series_summary(values)
            entries.append(entry)
        return entries


class Tower:
    def __init__(
        self,
        endpoint: str,
        token: str | None,
        workspace_id: str | None,
        log: Log,
        *,
        request_interval: float = REQUEST_INTERVAL,
        alive_interval: float = ALIVE_INTERVAL,
    ) -> None:
        if not re.match(r"^(https|http)://", endpoint):
            raise TowerAbort(f"Only http and https are supported -- The given URL was: {endpoint}")
        if not token:
            raise TowerAbort(
                "Missing Seqera Platform access token -- Make sure there's a variable "
                "TOWER_ACCESS_TOKEN in your environment"
            )
        self.endpoint = endpoint.rstrip("/")
        self.authorization = auth_header(token)
        self.workspace_id = workspace_id
        self.log = log
        self.request_interval = request_interval
        self.alive_interval = alive_interval
        self.workflow_id: str | None = None
        # TOWER_WORKFLOW_ID: a platform launched the run and made its record first; create
        # names it (makeCreateReq) and begin says towerLaunch (TowerClient.groovy).
        self.launch_workflow_id = os.environ.get("TOWER_WORKFLOW_ID") or None
        self.progress: dict[str, Any] = {}
        self.metrics = Metrics()
        self.events: queue.Queue[object] = queue.Queue()
        self.sender: threading.Thread | None = None

    def url(self, step: str) -> str:
        path = "/trace/create" if step == "create" else f"/trace/{self.workflow_id}/{step}"
        query = f"?workspaceId={self.workspace_id}" if self.workspace_id else ""
        return self.endpoint + path + query

    def send(self, step: str, payload: dict[str, Any]) -> tuple[int, str]:
        url = self.url(step)
        request = urllib.request.Request(  # noqa: S310 - the endpoint the user configured
            url,
            data=json.dumps({**payload, "instant": int(time.time() * 1000)}).encode(),
            headers={"Content-Type": "application/json", "Authorization": self.authorization},
            method="POST" if step == "create" else "PUT",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")
        except (urllib.error.URLError, OSError):
            parts = urllib.parse.urlsplit(url)
            return 0, f"Unable to connect to Seqera Platform API: {parts.scheme}://{parts.netloc}"

    @staticmethod
    def message(code: int, body: str, step: str) -> str:
        if code == 0:
            return body
        if code == 401:
            return UNAUTHORIZED
        try:
            cause = json.loads(body).get("message")
        except (ValueError, AttributeError):
            cause = body
        return str(cause or f"Unexpected response for request {step}")

    def required(self, step: str, payload: dict[str, Any]) -> dict[str, Any]:
        """create and begin: any failure aborts the run."""
        code, body = self.send(step, payload)
        if not 200 <= code < 300:
            raise TowerAbort(self.message(code, body, step))
        answer: dict[str, Any] = json.loads(body)
        return answer

    def logged(self, step: str, payload: dict[str, Any]) -> None:
        """progress, heartbeat, complete: a failure is only a warning in the log."""
        code, body = self.send(step, payload)
        if not 200 <= code < 300:
            self.log("WARN", "io.seqera.tower.plugin.TowerClient",
                     f"Unexpected HTTP response. Failed to send message to {self.endpoint} -- "
                     f"status code: {code}; message: {self.message(code, body, step)}")  # fmt: skip

    def create(self, session_id: str, run_name: str, project_name: str, repository: Any) -> None:
        answer = self.required("create", {
            "sessionId": session_id, "runName": run_name, "projectName": project_name,
            "repository": repository, "workflowId": self.launch_workflow_id,
        })  # fmt: skip
        self.workflow_id = answer.get("workflowId")
        if not self.workflow_id:
            raise TowerAbort("Invalid Seqera Platform API response - Missing workflow Id")
        if answer.get("message"):
            self.log("WARN", "io.seqera.tower.plugin.TowerClient", str(answer["message"]))

    def begin(self, workflow: dict[str, Any], params: dict[str, Any], processes: list[str]) -> str:
        document = {k: v for k, v in workflow.items() if k != "stats"}
        document.update(params=params, id=self.workflow_id, container=None,
                        configText="", operationId=None, logFile=None, outFile=None)  # fmt: skip
        answer = self.required("begin", {
            "workflow": document, "processNames": processes,
            "towerLaunch": self.launch_workflow_id is not None,
        })  # fmt: skip
        self.sender = threading.Thread(target=self.send_tasks, name="Tower-thread", daemon=True)
        self.sender.start()
        watch_url = str(answer.get("watchUrl"))
        print(f"Monitor the execution with Seqera Platform using this URL: {watch_url}",  # noqa: T201
              flush=True)  # fmt: skip
        return watch_url

    def task(self, trace: Mapping[str, Any], progress: dict[str, Any]) -> None:
        """One task event, for the sender thread; an ended one is aggregated
        (onProcessComplete, onProcessCached)."""
        self.progress = progress
        if trace.get("status") in ("COMPLETED", "FAILED", "CACHED"):
            self.metrics.add(trace)
        self.events.put(task_record(trace))

    def send_tasks(self) -> None:
        """TowerClient.sendTasks0: only the latest event per task, sent every request
        interval or at 100 tasks; without task events, a heartbeat every alive interval."""
        tasks: dict[int, dict[str, Any]] = {}
        complete = False
        previous = time.monotonic()
        while not complete:
            try:
                event = self.events.get(timeout=self.request_interval / 10)
            except queue.Empty:
                event = None
            if event is DONE:
                complete = True
            elif isinstance(event, dict):
                tasks[int(event["taskId"])] = event
            now = time.monotonic()
            if not tasks:
                if now - previous > self.alive_interval:
                    self.logged("heartbeat", {"progress": self.progress})
                    previous = now
                continue
            if (
                now - previous > self.request_interval
                or len(tasks) >= TASKS_PER_REQUEST
                or complete
            ):
                self.logged("progress", {"tasks": list(tasks.values()), "progress": self.progress})
                previous = now
                tasks.clear()

    def complete(self, workflow: dict[str, Any], params: dict[str, Any]) -> None:
        if self.sender is not None:  # the pending task events go first
            self.events.put(DONE)
            self.sender.join()
        document = {**workflow, "params": params, "id": self.workflow_id, "container": None,
                    "configText": "", "operationId": None, "logFile": None,
                    "outFile": None}  # fmt: skip
        self.logged(
            "complete",
            {"workflow": document, "metrics": self.metrics.summary(), "progress": self.progress},
        )


def progress_of(counts: Mapping[str, int], running: int = 0, submitted: int = 0) -> dict[str, Any]:
    """WorkflowProgress from the stand-in's counters."""
    return {
        "succeeded": counts.get("succeedCount", 0), "failed": counts.get("failedCount", 0),
        "ignored": 0, "cached": counts.get("cachedCount", 0), "pending": 0,
        "submitted": submitted, "running": running, "retries": 0,
        "aborted": counts.get("abortedCount", 0), "loadCpus": 0, "loadMemory": 0,
        "peakRunning": 1, "peakCpus": 2, "peakMemory": 2147483648, "processes": [],
    }  # fmt: skip
