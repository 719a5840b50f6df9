"""Runs as compute tells them, for the runs pages: one project's, as the user sees them."""

from __future__ import annotations

import uuid

from nfhub_web.apis import ApiProblem
from nfhub_web.project_apis import ProjectApis
from nfhub_web.runs.schemas import (
    LOG_READ_LINES,
    LOG_TAIL_LINES,
    OUTPUTS_PER_PAGE,
    LogTail,
    RunFilters,
    RunView,
    TaskQuery,
)
from nfhub_web.schemas import (
    LogPage,
    OutputEntry,
    Page,
    RunProgress,
    RunRead,
    TaskRead,
)


class RunsService(ProjectApis):
    async def list_runs(self, filters: RunFilters) -> Page[RunRead]:
        return await self.apis.read(
            Page[RunRead],
            "compute",
            "/runs",
            token=self.token,
            project_id=self.project_id,
            params=filters.api_params(),
        )

    async def get_run(self, run_id: uuid.UUID) -> RunRead:
        return await self.apis.read(
            RunRead, "compute", f"/runs/{run_id}", token=self.token, project_id=self.project_id
        )

    async def progress(self, run_id: uuid.UUID) -> RunProgress:
        return await self.apis.read(
            RunProgress,
            "compute",
            f"/runs/{run_id}/progress",
            token=self.token,
            project_id=self.project_id,
        )

    async def live(self, run_id: uuid.UUID) -> tuple[RunRead, RunProgress]:
        return await self.get_run(run_id), await self.progress(run_id)

    async def tasks(self, run_id: uuid.UUID, query: TaskQuery) -> Page[TaskRead]:
        return await self.apis.read(
            Page[TaskRead],
            "compute",
            f"/runs/{run_id}/tasks",
            token=self.token,
            project_id=self.project_id,
            params=query.api_params(),
        )

    async def outputs(self, run_id: uuid.UUID, path: str, offset: int) -> Page[OutputEntry] | None:
        """The run's outputs (None while the run has none to list yet)."""
        try:
            return await self.apis.read(
                Page[OutputEntry],
                "compute",
                f"/runs/{run_id}/outputs",
                token=self.token,
                project_id=self.project_id,
                params={"path": path, "limit": OUTPUTS_PER_PAGE, "offset": offset},
            )
        except ApiProblem as problem:
            if problem.status == 404:
                return None
            raise

    async def _log_page(self, run_id: uuid.UUID, source: str, offset: int, limit: int) -> LogPage:
        try:
            return await self.apis.read(
                LogPage,
                "compute",
                f"/runs/{run_id}/log",
                token=self.token,
                project_id=self.project_id,
                params={"source": source, "offset": offset, "limit": limit},
            )
        except ApiProblem as problem:
            if problem.status != 404:
                raise
            return LogPage(source=source, lines=[], count=0, offset=offset)  # none written yet

    async def log_tail(self, run_id: uuid.UUID, source: str, start: int | None) -> LogTail:
        """The log's last lines. ``start``: where the previous tail began (a poll); without
        it, one more call finds how long the log is."""
        if start is None:
            start = max(0, (await self._log_page(run_id, source, 0, 1)).count - LOG_TAIL_LINES)
        page = await self._log_page(run_id, source, start, LOG_READ_LINES)
        lines = page.lines[-LOG_TAIL_LINES:]
        return LogTail(source, lines, start + len(page.lines) - len(lines), page.count)

    async def log_view(
        self, run_id: uuid.UUID, source: str, start: int | None
    ) -> tuple[RunRead, LogTail]:
        """What the log section polls: the run (is it finished?) and the log's tail."""
        run = await self.get_run(run_id)
        return run, await self.log_tail(run_id, source, start)

    async def view(
        self,
        run_id: uuid.UUID,
        query: TaskQuery,
        output_path: str,
        output_offset: int,
        log_source: str = "console",
    ) -> RunView:
        # The run first: another project's id (or none) stops here with compute's 404.
        # One call after another: a page's calls are each a few milliseconds, and in-process
        # tests share one database connection, which takes one query at a time.
        run = await self.get_run(run_id)
        progress = await self.progress(run_id)
        tasks = await self.tasks(run_id, query)
        outputs = await self.outputs(run_id, output_path, output_offset)
        log = await self.log_tail(run_id, log_source, None)
        launched_by = await self.member_name(run.created_by)
        return RunView(run, progress, tasks, outputs, log, launched_by, query, output_path)

    async def relaunch(self, run_id: uuid.UUID, *, resume: bool) -> RunRead:
        """A new run from this one; ``resume`` reuses its cached tasks (compute says when it
        cannot)."""
        return await self.apis.read(
            RunRead,
            "compute",
            f"/runs/{run_id}/relaunch",
            method="POST",
            token=self.token,
            project_id=self.project_id,
            json={"resume": resume},
        )

    async def cancel(self, run_id: uuid.UUID) -> RunRead:
        return await self.apis.read(
            RunRead,
            "compute",
            f"/runs/{run_id}/cancel",
            method="POST",
            token=self.token,
            project_id=self.project_id,
        )
