"""Runs reported through Nextflow's Tower trace protocol (``-with-tower``).

A Nextflow started anywhere reports into a project: ``create`` makes an external run
(INITIALIZING), ``begin`` records what runs (RUNNING), ``progress`` upserts task batches
through the weblog's task path, ``heartbeat`` notes it alive (UNKNOWN → RUNNING), and
``complete`` ends it (COMPLETE or EXECUTOR_ERROR by Nextflow's own verdict). Every call is
idempotent: a replayed or duplicated one changes nothing, tasks only move up their ranking.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pydantic_core

from nfhub_compute.config import Settings
from nfhub_compute.events.parsing import parse_time
from nfhub_compute.events.repository import TOUCH_INTERVAL, EventsConnect, RunEventRepository
from nfhub_compute.models import Run
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.states import RunState
from nfhub_compute.runs.weblog import new_workflow_id
from nfhub_compute.tower.errors import run_token_creates, workflow_not_found
from nfhub_compute.tower.parsing import progress_times, progress_traces
from nfhub_compute.tower.repository import TowerProgressRepository, TowerRunRepository
from nfhub_compute.tower.schemas import (
    ProgressBatch,
    RunGrant,
    TowerWorkflow,
    TraceAnswer,
    TraceBegin,
    TraceComplete,
    TraceCreate,
    TraceHeartbeat,
)
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSession

Caller = ProjectAccess | RunGrant
WORKFLOW_ID_MAX_CHARS = 16  # the client's limit (tower-schema.properties), and the column's
# What nfhub keeps of the workflow Nextflow describes (begin and complete).
KEPT_WORKFLOW_FIELDS = (
    "run_name", "session_id", "project_name", "repository", "revision", "commit_id",
    "script_name", "launch_dir", "work_dir", "user_name", "profile", "container_engine",
    "command_line", "resume",
)  # fmt: skip


def watch_url(settings: Settings, run_id: uuid.UUID) -> str:
    return f"{str(settings.COMPUTE_URL).rstrip('/')}/api/v1/runs/{run_id}"


def workflow_summary(workflow: TowerWorkflow) -> dict[str, Any]:
    """The run's ``workflow`` document (the weblog's names, camelCase): set fields only."""
    dumped = workflow.model_dump(include=set(KEPT_WORKFLOW_FIELDS), by_alias=True)
    summary = {key: value for key, value in dumped.items() if value is not None}
    if workflow.params is not None:
        summary["params"] = workflow.params
    if workflow.nextflow is not None and workflow.nextflow.version:
        summary["nextflowVersion"] = workflow.nextflow.version
    return summary


class TowerService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        audit: AuditWriter,
    ) -> None:
        self.session = session
        self.settings = settings
        self.audit = audit
        self.runs = TowerRunRepository(session)
        self.events = RunEventRepository(session)

    def _answer(self, run: Run) -> TraceAnswer:
        assert run.tower_workflow_id is not None
        return TraceAnswer(
            workflow_id=run.tower_workflow_id, watch_url=watch_url(self.settings, run.id)
        )

    async def _run(self, access: Caller, workflow_id: str, *, for_update: bool = False) -> Run:
        """The project's run Nextflow knows by ``workflow_id``; another project's is not found,
        nor, for a run's own token, any other run."""
        run = (
            await self.runs.by_workflow_id(workflow_id, for_update=for_update)
            if len(workflow_id) <= WORKFLOW_ID_MAX_CHARS
            else None
        )
        if run is None:
            raise workflow_not_found(workflow_id[:32])
        if isinstance(access, RunGrant):
            if run.id != access.run_id:
                raise workflow_not_found(workflow_id[:32])
        elif run.project_id != access.project_id:
            raise workflow_not_found(workflow_id[:32])
        return run

    async def create(self, access: Caller, trace_create: TraceCreate) -> TraceAnswer:
        if trace_create.workflow_id:  # a launch that made its run first (TOWER_WORKFLOW_ID)
            return self._answer(await self._run(access, trace_create.workflow_id))
        if isinstance(access, RunGrant):
            raise run_token_creates()
        existing = await self.runs.external_by_session(
            access.project_id, trace_create.session_id, trace_create.run_name
        )
        if existing is not None:  # a replayed create
            return self._answer(existing)
        now = datetime.now(UTC)
        run_id, workflow_id = uuid.uuid4(), new_workflow_id()
        summary = {
            "runName": trace_create.run_name,
            "sessionId": trace_create.session_id,
            "projectName": trace_create.project_name,
            "repository": trace_create.repository,
        }
        run = Run(
            id=run_id,
            project_id=access.project_id,
            org_id=access.org_id,
            pipeline_id=None,
            pipeline_version_id=None,
            pipeline_slug=(trace_create.project_name or trace_create.run_name)[:100],
            pipeline_version="",
            name=trace_create.run_name,
            nextflow_name=f"tower-{workflow_id}",
            state=RunState.INITIALIZING.value,
            params={},
            storage_uri="",
            outdir_uri="",
            session_id=trace_create.session_id,
            backend="external",
            workflow={key: value for key, value in summary.items() if value is not None},
            created_by=access.principal.subject,
            source="external",
            channel="tower",
            tower_workflow_id=workflow_id,
            initializing_at=now,
            last_event_at=now,
        )
        await self.runs.add(run)
        await self.audit.record_in_project(
            self.session,
            access,
            "run.report",
            "run",
            run.id,
            {"channel": "tower", "run_name": trace_create.run_name},
        )
        return self._answer(run)

    async def begin(self, access: Caller, workflow_id: str, trace_begin: TraceBegin) -> TraceAnswer:
        run = await self._run(access, workflow_id)
        workflow = trace_begin.workflow
        values: dict[str, Any] = {
            "workflow": workflow_summary(workflow),
            "workflow_started_at": parse_time(workflow.start),
        }
        if run.source == "external":  # a launched run keeps the version and params it was given
            values["pipeline_version"] = (workflow.revision or "")[:100] or None
            if workflow.params is not None:
                values["params"] = workflow.params
        await self.events.seen(run.id, datetime.now(UTC), values)
        return self._answer(run)

    async def _keep_progress(
        self, run: Run, progress: dict[str, Any] | None, instant: int | None, now: datetime
    ) -> None:
        if progress is not None:
            sent = instant if instant is not None else int(now.timestamp() * 1000)
            await self.events.progress(run.id, progress, sent)

    async def heartbeat(
        self, access: Caller, workflow_id: str, trace_heartbeat: TraceHeartbeat
    ) -> TraceAnswer:
        run = await self._run(access, workflow_id)
        now = datetime.now(UTC)
        await self._keep_progress(run, trace_heartbeat.progress, trace_heartbeat.instant, now)
        await self.events.seen(run.id, now, {})
        return self._answer(run)

    async def complete(
        self, access: Caller, workflow_id: str, trace_complete: TraceComplete
    ) -> TraceAnswer:
        """Nextflow's verdict ends the run: success → COMPLETE, else EXECUTOR_ERROR."""
        run = await self._run(access, workflow_id, for_update=True)
        workflow = trace_complete.workflow
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "workflow": workflow_summary(workflow),
            "workflow_completed_at": parse_time(workflow.complete),
            "workflow_success": workflow.success,
            "error_message": workflow.error_message,
            "error_report": workflow.error_report,
            "stats": workflow.stats,
            "process_metrics": trace_complete.metrics,
        }
        if workflow.params is not None and run.source == "external":
            values["params"] = workflow.params
        await self._keep_progress(run, trace_complete.progress, trace_complete.instant, now)
        await self.events.seen(run.id, now, values)
        if run.source != "external":
            # A launched run ends by its launcher's exit code, as on the weblog channel (the
            # reconciler reads the trace file and the outputs): have it look soon.
            await self.events.notify(f"completed:{run.id}")
            return self._answer(run)
        if workflow.success:
            target, reason = RunState.COMPLETE, None
        else:
            target = RunState.EXECUTOR_ERROR
            reason = workflow.error_message or (
                f"Nextflow reported the run failed (exit status {workflow.exit_status})."
            )
        await RunRepository(self.session).move(
            run.id,
            target,
            {"finished_at": now, "exit_code": workflow.exit_status, "state_reason": reason},
            now,
            fill={"workflow_started_at": parse_time(workflow.start)},
        )
        return self._answer(run)


class TowerProgressService:
    """Progress calls, the bulk of what Nextflow sends: each batch two statements on the
    autocommit events engine (tower.repository.PROGRESS_TASKS and PROGRESS_RUN), no
    session, no ORM."""

    def __init__(self, settings: Settings, connect: EventsConnect) -> None:
        self.settings = settings
        self.connect = connect

    async def progress(
        self, access: Caller, workflow_id: str, trace_progress: ProgressBatch
    ) -> TraceAnswer:
        """Upsert the batch's tasks (the latest news of each wins, by status rank), keep the
        counters unless newer ones are there, note the run alive. ``trace_progress`` holds
        the records as parsed from the request (tower.endpoints.read_progress)."""
        if len(workflow_id) > WORKFLOW_ID_MAX_CHARS:
            raise workflow_not_found(workflow_id[:32])
        now = datetime.now(UTC)
        tasks, progress = trace_progress.tasks, trace_progress.progress
        times = progress_times(tasks)
        traces = progress_traces(tasks, times)
        try:  # orjson writes NaN and infinity deep in a value as null (jsonb has neither)
            traces_json = orjson.dumps(traces)
        except (TypeError, orjson.JSONEncodeError):  # an integer past 64 bits
            traces_json = pydantic_core.to_json(traces, inf_nan_mode="null")
        counters = (
            pydantic_core.to_json(progress, inf_nan_mode="null").decode()
            if progress is not None
            else None
        )
        async with self.connect() as connection:
            run_id = await TowerProgressRepository(connection).report(
                workflow_id,
                project_id=access.project_id if isinstance(access, ProjectAccess) else None,
                run_id=access.run_id if isinstance(access, RunGrant) else None,
                traces=traces_json.decode(),
                times=times,
                progress=counters,
                instant=(
                    trace_progress.instant
                    if trace_progress.instant is not None
                    else int(now.timestamp() * 1000)
                ),
                now=now,
                stale=now - TOUCH_INTERVAL,
            )
        if run_id is None:
            raise workflow_not_found(workflow_id[:32])
        return TraceAnswer(workflow_id=workflow_id, watch_url=watch_url(self.settings, run_id))
