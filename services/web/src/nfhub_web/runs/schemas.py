from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args
from urllib.parse import urlencode

from nfhub_web.schemas import OutputEntry, Page, RunProgress, RunRead, TaskRead

RunState = Literal[
    "QUEUED", "INITIALIZING", "RUNNING", "UNKNOWN", "CANCELING",
    "COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED",
]  # fmt: skip
LogSource = Literal["console", "nextflow"]
TaskStatus = Literal["NEW", "SUBMITTED", "RUNNING", "CACHED", "COMPLETED", "ABORTED", "FAILED"]
TaskSort = Literal[
    "task_id", "submit", "start", "complete", "duration", "realtime", "peak_rss", "cpu", "name"
]
SortOrder = Literal["asc", "desc"]
# The same values in order, for the pages' checkboxes and column headers.
RUN_STATES: tuple[str, ...] = get_args(RunState)
TASK_STATUSES: tuple[str, ...] = get_args(TaskStatus)
TASK_SORTS: tuple[str, ...] = get_args(TaskSort)

RUNS_PER_PAGE = 50
TASKS_PER_PAGE = 50
OUTPUTS_PER_PAGE = 100
# The log shows its last lines; a poll asks from where the last one's window began.
LOG_TAIL_LINES = 200
LOG_READ_LINES = 5000  # compute's largest page


@dataclass(frozen=True)
class RunFilters:
    """The runs list's filters, as compute's GET /runs offers them."""

    states: tuple[str, ...] = ()
    pipeline: str | None = None
    label: str | None = None
    offset: int = 0

    def api_params(self) -> list[tuple[str, str | int]]:
        params: list[tuple[str, str | int]] = [("state", state) for state in self.states]
        if self.pipeline:
            params.append(("pipeline", self.pipeline))
        if self.label:
            params.append(("label", self.label))
        params += [("limit", RUNS_PER_PAGE), ("offset", self.offset)]
        return params

    def query(self) -> str:
        """This page's query string."""
        return urlencode([*self._filter_params(), *([("offset", self.offset)] * bool(self.offset))])

    def page_prefix(self) -> str:
        """This list's URL, filters kept, waiting for an offset."""
        return "/runs?" + urlencode([*self._filter_params(), ("offset", "")])

    def _filter_params(self) -> list[tuple[str, str | int]]:
        params: list[tuple[str, str | int]] = [("state", state) for state in self.states]
        if self.pipeline:
            params.append(("pipeline", self.pipeline))
        if self.label:
            params.append(("label", self.label))
        return params


@dataclass(frozen=True)
class TaskQuery:
    statuses: tuple[str, ...] = ()
    sort: str = "task_id"
    order: str = "asc"
    offset: int = 0
    process: str | None = None

    def api_params(self) -> list[tuple[str, str | int]]:
        params: list[tuple[str, str | int]] = [("status", status) for status in self.statuses]
        if self.process:
            params.append(("process", self.process))
        params += [
            ("sort", self.sort),
            ("order", self.order),
            ("limit", TASKS_PER_PAGE),
            ("offset", self.offset),
        ]
        return params

    def sorted_by(self, sort: str) -> str:
        """The run page's query string sorted by ``sort`` (a second click reverses it)."""
        order = "desc" if sort == self.sort and self.order == "asc" else "asc"
        params = [*self._status_params(), ("sort", sort), ("order", order)]
        return urlencode(params)

    def page_prefix(self, run_id: object) -> str:
        """The run page's URL, filter and sort kept, waiting for a task offset."""
        params = [*self._status_params(), ("sort", self.sort), ("order", self.order)]
        return f"/runs/{run_id}?" + urlencode([*params, ("task_offset", "")])

    def _status_params(self) -> list[tuple[str, str]]:
        params = [("task_status", status) for status in self.statuses]
        return params + ([("process", self.process)] if self.process else [])


@dataclass(frozen=True)
class LogTail:
    """The last lines of one of a run's logs."""

    source: str
    lines: list[str]
    first_line: int  # the number (from 0) of lines[0]
    count: int  # lines in the log so far

    @property
    def next_start(self) -> int:
        return max(0, self.count - LOG_TAIL_LINES)


@dataclass(frozen=True)
class RunView:
    """Everything the run page shows."""

    run: RunRead
    progress: RunProgress
    tasks: Page[TaskRead]
    outputs: Page[OutputEntry] | None
    log: LogTail
    launched_by: str
    task_query: TaskQuery = field(default_factory=TaskQuery)
    output_path: str = ""
