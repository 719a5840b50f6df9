"""A backend that accepts every run and starts nothing: for measuring the dispatcher alone.

bench/compute.py uses it for dispatch latency; nothing else should. Runs stay RUNNING until
canceled, then end as if killed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from nfhub_compute.backends.base import (
    ActiveJob,
    JobState,
    JobStatus,
    LaunchSpec,
    LogRead,
    LogSource,
    SubmittedJob,
    TaskFileGone,
    TaskFileRead,
)


class NoopBackend:
    name = "noop"
    host_independent = False  # what it canceled is in this process's memory

    def __init__(self) -> None:
        self._canceled: set[str] = set()

    async def submit(self, spec: LaunchSpec) -> SubmittedJob:
        return SubmittedJob({"run_id": str(spec.run_id)}, launch_dir=None, work_dir=None)

    async def status(self, handle: dict[str, Any]) -> JobStatus:
        if handle["run_id"] in self._canceled:
            return JobStatus(JobState.EXITED, exit_code=143)
        return JobStatus(JobState.RUNNING)

    async def cancel(self, handle: dict[str, Any], *, force: bool) -> None:
        self._canceled.add(handle["run_id"])

    async def logs(
        self,
        handle: dict[str, Any],
        *,
        source: LogSource,
        start: int,
        limit: int,
        final: bool = False,
        skip_lines: int = 0,
    ) -> LogRead:
        return LogRead(end=start)

    async def task_file(
        self, handle: dict[str, Any], path: str, allowed_roots: list[str], *, max_bytes: int
    ) -> TaskFileRead:
        raise TaskFileGone("The noop backend runs no task.")

    async def trace(self, handle: dict[str, Any]) -> AsyncIterator[dict[str, str]]:
        rows: tuple[dict[str, str], ...] = ()
        for row in rows:
            yield row

    async def list_active(self) -> list[ActiveJob]:
        return []

    async def check(self) -> list[str]:
        return []

    async def close(self) -> None:
        return None
