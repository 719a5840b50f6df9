"""Runs: launch (validated against the pipeline's schema), read, cancel, relaunch, outputs.

The request only records the run (QUEUED) and wakes the workers; the worker's dispatcher
submits it to the job backend, and its reconciler follows it to the end.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from nfhub_compute.backends.base import LogSource
from nfhub_compute.backends.launchdir import REPORTS_FOLDER
from nfhub_compute.compute_envs.errors import ComputeEnvUnusable
from nfhub_compute.compute_envs.repository import ComputeEnvRepository
from nfhub_compute.compute_envs.schemas import ComputeEnvStatus
from nfhub_compute.compute_envs.service import ComputeEnvService
from nfhub_compute.config import Settings
from nfhub_compute.logs.service import RunLogService
from nfhub_compute.models import PipelineVersion, Run, Task
from nfhub_compute.models.task import METRIC_STATUSES
from nfhub_compute.pipelines.errors import PipelineNotFound, PipelineVersionNotFound
from nfhub_compute.pipelines.repository import PipelineVersionRepository
from nfhub_compute.pipelines.service import PipelineService
from nfhub_compute.pipelines.validation import params_problems, with_schema_defaults
from nfhub_compute.runs.errors import IllegalRunTransition, InvalidLaunch, RunNotFound
from nfhub_compute.runs.launch import effective_params, nextflow_name
from nfhub_compute.runs.repository import RunRepository
from nfhub_compute.runs.schemas import (
    LogPage,
    OutputEntry,
    ReportEntry,
    ReportKind,
    RunCreate,
    RunError,
    RunFilter,
    RunMetrics,
    RunProgress,
    RunRead,
    RunRelaunch,
    RunReports,
)
from nfhub_compute.runs.states import CANCEL_MOVES, RunState
from nfhub_compute.runs.weblog import channel_columns
from nfhub_compute.secrets.service import unknown_secret_names
from nfhub_compute.tasks.schemas import (
    TaskDetail,
    TaskFileName,
    TaskFilesPending,
    TaskFileText,
    TaskFilter,
)
from nfhub_compute.tasks.service import TaskFileService, TaskService, exit_meaning, tower_metrics
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import BadRequest, FieldProblem

FAILED_STATES = (RunState.EXECUTOR_ERROR, RunState.SYSTEM_ERROR)
# Lines of the failing task's stderr a failed run shows.
STDERR_TAIL_LINES = 20

# Set by nfhub for every run, never by the caller.
RESERVED_PARAMS = {
    "input": "give the samplesheet as input.path",
    "outdir": "nfhub writes outputs to the run's folder, runs/<run id>/ in the project",
}


# What a file of the reports folder is, by its name: nfhub's (launchdir.REPORT_FILES), an
# nf-core pipeline's (execution_report_<time>.html …) or an environment's own names.
REPORT_KINDS: tuple[tuple[ReportKind, re.Pattern[str]], ...] = (
    ("timeline", re.compile(r"timeline.*\.html$", re.I)),
    ("dag", re.compile(r"(dag|flowchart).*\.(html|dot|mmd|svg|png|pdf|gexf)$", re.I)),
    ("report", re.compile(r"report.*\.html$", re.I)),
)
# The files of the reports folder looked at: more than it holds (nf-core pipelines add their
# parameters, software versions, samplesheet checks…); the files service's page limit.
MAX_REPORT_FILES = 500


def report_kind(name: str) -> ReportKind | None:
    return next((kind for kind, pattern in REPORT_KINDS if pattern.search(name)), None)


class RunService:
    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        admin: AdminClient,
        files: FilesClient,
    ) -> None:
        self.session = session
        self.settings = settings
        self.audit = audit
        self.access = access
        self.admin = admin
        self.files = files
        self.runs = RunRepository(session)
        self.tasks = TaskService(session)
        self.task_files = TaskFileService(session)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, run_id: uuid.UUID, *, for_update: bool = False) -> Run:
        run = await self.runs.get_in_project(self.access.project_id, run_id, for_update=for_update)
        if run is None:
            raise RunNotFound(f"No run {run_id} in this project.")
        return run

    async def get_with_tasks(self, run_id: uuid.UUID) -> RunRead:
        """The run with its task counts, and why it failed when it did."""
        run = await self.get(run_id)
        read = RunRead.model_validate(run)
        read.tasks = (await self.tasks.totals_of([run.id]))[run.id]
        if RunState(run.state) in FAILED_STATES:
            read.error = await self.error_of(run)
        return read

    async def error_of(self, run: Run) -> RunError:
        """The failing task, its exit status and the end of its stderr, Nextflow's message."""
        task = await self.task_files.failing_task(run.id)
        message = run.error_message or run.state_reason
        if task is None:
            return RunError(
                message=message,
                exit_code=run.exit_code,
                exit_code_of="nextflow" if run.exit_code is not None else None,
                exit_meaning=exit_meaning(run.exit_code) if run.exit_code else None,
            )
        tail = await self.task_files.stderr_tail(run.id, task.task_id, lines=STDERR_TAIL_LINES)
        return RunError(
            message=message,
            process=task.process,
            task_id=task.task_id,
            task_name=task.name,
            attempt=task.attempt,
            exit_code=task.exit_status,
            exit_code_of="task" if task.exit_status is not None else None,
            exit_meaning=exit_meaning(task.exit_status),
            work_dir=task.workdir,
            stderr_tail=tail,
            logs_url=f"/api/v1/runs/{run.id}/tasks/{task.task_id}/logs?file=stderr",
        )

    async def task_detail(self, run_id: uuid.UUID, task_id: int) -> TaskDetail:
        run = await self.get(run_id)
        return await self.task_files.detail(run.id, task_id)

    async def task_file(
        self,
        run_id: uuid.UUID,
        task_id: int,
        file: TaskFileName,
        *,
        offset: int,
        limit: int,
        refresh: bool,
    ) -> TaskFileText | TaskFilesPending:
        """One of a task's files as shipped, or a pending request the run's worker serves."""
        run = await self.get(run_id)
        unreadable = None
        if run.source == "external":
            unreadable = (
                "the run was reported from elsewhere (-with-tower); its work dir is on the "
                "machine that ran Nextflow, which nfhub cannot read"
            )
        elif run.backend_handle is None:
            unreadable = "the run was never launched"
        answer = await self.task_files.read(
            run.id, task_id, file, offset=offset, limit=limit, refresh=refresh,
            unreadable=unreadable,
        )  # fmt: skip
        if isinstance(answer, TaskFilesPending):
            await self.runs.notify(f"task-files:{run.id}")
        return answer

    async def list_runs(
        self, run_filter: RunFilter, *, limit: int, offset: int
    ) -> tuple[list[RunRead], int]:
        """A page of runs, each with its task counts (one grouped query for the page)."""
        runs, count = await self.runs.list_in_project(
            self.access.project_id, run_filter, limit=limit, offset=offset
        )
        totals = await self.tasks.totals_of([run.id for run in runs])
        reads = []
        for run in runs:
            read = RunRead.model_validate(run)
            read.tasks = totals[run.id]
            reads.append(read)
        return reads, count

    async def progress(self, run_id: uuid.UUID) -> RunProgress:
        run = await self.get(run_id)
        totals, processes = await self.tasks.progress(run.id)
        return RunProgress(
            run_id=run.id,
            state=RunState(run.state),
            totals=totals,
            processes=processes,
            workflow_stats=run.stats,
        )

    async def metrics(self, run_id: uuid.UUID) -> RunMetrics:
        """Per-process resource summaries: a Tower-channel run's own, once its complete call
        brought them, else computed from its task rows (and kept: TaskService.metrics)."""
        run = await self.get(run_id)
        statuses = list(METRIC_STATUSES)
        if run.channel == "tower" and run.process_metrics:
            processes = tower_metrics(run.process_metrics)
            return RunMetrics(run_id=run.id, source="tower", statuses=statuses, processes=processes)
        computed = await self.tasks.metrics(
            run.id,
            ended=RunState(run.state).terminal,
            max_age=timedelta(seconds=self.settings.RUNNING_METRICS_MAX_AGE_SECONDS),
            stale_max=timedelta(seconds=self.settings.RUNNING_METRICS_STALE_MAX_SECONDS),
        )
        return RunMetrics(
            run_id=run.id,
            source="tasks",
            statuses=statuses,
            processes=computed.processes,
            computed_at=computed.computed_at,
        )

    async def list_tasks(
        self, run_id: uuid.UUID, task_filter: TaskFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Task], int]:
        run = await self.get(run_id)
        return await self.tasks.list_tasks(run.id, task_filter, limit=limit, offset=offset)

    # -- launching ---------------------------------------------------------------------------

    async def create(
        self,
        run_create: RunCreate,
        caller_token: str,
        *,
        wes_request: dict[str, Any] | None = None,
    ) -> Run:
        """``wes_request``: the GA4GH WES request a launch through WES came as (its RunLog
        echoes it)."""
        pipelines = PipelineService(self.session, self.settings, self.audit, self.access)
        try:
            pipeline, version = await pipelines.resolve(
                run_create.pipeline, run_create.version, allow_deprecated=False
            )
        except (PipelineNotFound, PipelineVersionNotFound) as exc:
            field = "version" if isinstance(exc, PipelineVersionNotFound) else "pipeline"
            raise InvalidLaunch(exc.detail, errors=[FieldProblem(field, exc.detail)]) from exc
        if version is None:
            detail = f"Pipeline {pipeline.slug} has no version that is not deprecated."
            raise InvalidLaunch(detail, errors=[FieldProblem("version", detail)])
        reserved = [
            FieldProblem(f"params.{name}", f"{name} is set by nfhub: {why}")
            for name, why in RESERVED_PARAMS.items()
            if name in run_create.params
        ]
        if reserved:
            raise InvalidLaunch("Some parameters are nfhub's to set.", errors=reserved)
        env = await ComputeEnvService(self.session, self.audit, self.access).for_launch(
            run_create.compute_env_id
        )

        run_id = uuid.uuid4()
        location = await self.admin.storage_location(self.access.project_id)
        input_path = order_id = input_uri = None
        if run_create.input is not None:
            order_id = run_create.input.order_id
            if run_create.input.path is None:
                detail = (
                    "input.path is needed: give the order's samplesheet path in the project "
                    "(miner writes it to orders/<order>/samplesheet.csv)."
                )
                raise InvalidLaunch(detail, errors=[FieldProblem("input.path", detail)])
            input_path = await self._existing_file(run_create.input.path, caller_token)
            input_uri = location.uri + input_path
        run = Run(
            id=run_id,
            project_id=self.access.project_id,
            org_id=self.access.org_id,
            pipeline_id=pipeline.id,
            pipeline_version_id=version.id,
            pipeline_slug=pipeline.slug,
            pipeline_version=version.version,
            name=run_create.name or f"{pipeline.slug} {version.version}",
            nextflow_name=nextflow_name(run_id),
            state=RunState.QUEUED.value,
            params=run_create.params,
            input_path=input_path,
            input_uri=input_uri,
            order_id=order_id,
            profiles=list(
                run_create.profiles if run_create.profiles is not None else version.profiles
            ),
            labels=sorted(set(run_create.labels)),
            secrets=await self._known_secrets(run_create.secrets),
            storage_uri=location.uri,
            outdir_uri=f"{location.uri}runs/{run_id}/",
            backend=env.backend if env is not None else self.settings.BACKEND,
            compute_env_id=env.id if env is not None else None,
            workflow={},
            created_by=self.access.principal.subject,
            **channel_columns(self.settings),
            wes_request=wes_request,
        )
        self._check_params(run, version)
        await self.runs.add(run)
        await self._record(
            "run.create",
            run,
            {
                "pipeline": pipeline.slug,
                "version": version.version,
                "compute_env": str(env.id) if env is not None else None,
            },
        )
        await self.runs.notify(f"queued:{run.id}")
        return run

    async def relaunch(
        self, run_id: uuid.UUID, run_relaunch: RunRelaunch, caller_token: str
    ) -> Run:
        """A new run of the same version and input; with resume, the same session and work dir."""
        original = await self.get(run_id)
        if original.pipeline_version_id is None:
            raise IllegalRunTransition(
                f"Run {original.id} was started outside nfhub and reported to it; nfhub has "
                f"no pipeline version to relaunch. Launch the pipeline from nfhub instead."
            )
        if run_relaunch.resume:
            if not RunState(original.state).terminal:
                raise IllegalRunTransition(
                    f"Run {original.id} is {original.state}; it can be resumed once it has "
                    f"ended (cancel it first)."
                )
            if original.session_id is None or original.work_dir is None:
                raise IllegalRunTransition(
                    f"Run {original.id} never started a Nextflow session, so there is nothing "
                    f"to resume; relaunch it without resume."
                )
        version = await PipelineVersionRepository(self.session).get(original.pipeline_version_id)
        assert version is not None  # a foreign key
        await self._usable_env(original.compute_env_id)
        params = {**original.params}
        for name, value in run_relaunch.params.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        reserved = [name for name in RESERVED_PARAMS if name in params]
        if reserved:
            errors = [FieldProblem(f"params.{n}", RESERVED_PARAMS[n]) for n in reserved]
            raise InvalidLaunch("Some parameters are nfhub's to set.", errors=errors)
        if original.input_path is not None:
            # The input may have been deleted since; find out now, not in Nextflow's log.
            await self._existing_file(original.input_path, caller_token)
        secrets = await self._known_secrets(
            run_relaunch.secrets if run_relaunch.secrets is not None else original.secrets
        )
        new_id = uuid.uuid4()
        run = Run(
            id=new_id,
            project_id=original.project_id,
            org_id=original.org_id,
            pipeline_id=original.pipeline_id,
            pipeline_version_id=original.pipeline_version_id,
            pipeline_slug=original.pipeline_slug,
            pipeline_version=original.pipeline_version,
            name=run_relaunch.name or original.name,
            nextflow_name=nextflow_name(new_id),
            state=RunState.QUEUED.value,
            params=params,
            input_path=original.input_path,
            input_uri=original.input_uri,
            order_id=original.order_id,
            profiles=list(
                run_relaunch.profiles if run_relaunch.profiles is not None else original.profiles
            ),
            labels=sorted(
                set(run_relaunch.labels if run_relaunch.labels is not None else original.labels)
            ),
            secrets=secrets,
            storage_uri=original.storage_uri,
            outdir_uri=f"{original.storage_uri}runs/{new_id}/",
            resume=run_relaunch.resume,
            relaunched_from_id=original.id,
            session_id=original.session_id if run_relaunch.resume else None,
            work_dir=original.work_dir if run_relaunch.resume else None,
            backend=original.backend,
            compute_env_id=original.compute_env_id,
            workflow={},
            created_by=self.access.principal.subject,
            **channel_columns(self.settings),
        )
        self._check_params(run, version)
        await self.runs.add(run)
        await self._record(
            "run.relaunch", run, {"from": str(original.id), "resume": run_relaunch.resume}
        )
        await self.runs.notify(f"queued:{run.id}")
        return run

    # -- stopping ----------------------------------------------------------------------------

    async def cancel(self, run_id: uuid.UUID) -> Run:
        """QUEUED → CANCELED at once; a submitted run → CANCELING until the backend confirms."""
        run = await self.get(run_id, for_update=True)
        state = RunState(run.state)
        if run.source == "external":
            raise IllegalRunTransition(
                f"Run {run.id} was started outside nfhub, which cannot stop it; stop Nextflow "
                f"where it runs (Ctrl-C, scancel …), and its last report will end the run here."
            )
        if state == RunState.CANCELING:
            return run
        target = CANCEL_MOVES.get(state)
        if target is None:
            raise IllegalRunTransition(
                f"Run {run.id} is {state.value}; a run can be canceled while QUEUED, "
                f"INITIALIZING, RUNNING or UNKNOWN."
            )
        now = datetime.now(UTC)
        values: dict[str, Any] = {"canceling_at": now}
        if target == RunState.CANCELED:
            values.update(finished_at=now, state_reason="Canceled before it was submitted.")
        else:
            values["state_reason"] = "Cancel requested; waiting for the backend to stop it."
        moved = await self.runs.move(run.id, target, values, now)
        assert moved  # the row is locked and the move is legal
        await self.runs.reload(run)
        await self._record("run.cancel", run, {"from": state.value})
        await self.runs.notify(f"cancel:{run.id}")
        return run

    # -- what a run left behind --------------------------------------------------------------

    async def log(
        self, run_id: uuid.UUID, *, source: LogSource, offset: int, limit: int
    ) -> LogPage:
        """From the database, where the run's worker ships it: no launch folder needed."""
        run = await self.get(run_id)
        chunk = await RunLogService(self.session).page(run.id, source, offset=offset, limit=limit)
        return LogPage(
            source=source, lines=chunk.lines, count=chunk.count, offset=offset, limit=limit
        )

    async def outputs(
        self, run_id: uuid.UUID, path: str, caller_token: str, *, limit: int, offset: int
    ) -> tuple[list[OutputEntry], int]:
        """One folder of the run's outputs, files with signed download URLs (two calls)."""
        run = await self.get(run_id)
        relative = posixpath.normpath(path.strip("/")) if path.strip("/") else ""
        if relative.startswith("..") or relative.startswith("/"):
            raise InvalidLaunch(
                "path must stay inside the run's output folder.",
                errors=[FieldProblem("path", "leaves the folder")],
            )
        return await self._output_folder(run, relative, caller_token, limit=limit, offset=offset)

    async def reports(self, run_id: uuid.UUID, caller_token: str) -> RunReports:
        """Nextflow's execution report, timeline and DAG among the run's outputs (its
        REPORTS_FOLDER), with signed download URLs; none until Nextflow wrote them (at the
        run's end)."""
        run = await self.get(run_id)
        entries, _ = await self._output_folder(
            run,
            REPORTS_FOLDER,
            caller_token,
            limit=MAX_REPORT_FILES,
            offset=0,
            keep=lambda entry: (
                entry.get("kind") == "file" and report_kind(entry["name"]) is not None
            ),
        )
        items = [
            ReportEntry(
                kind=kind,
                name=entry.name,
                path=entry.path,
                project_path=entry.project_path,
                size=entry.size,
                modified=entry.modified,
                download_url=entry.download_url,
                download_url_expires_at=entry.download_url_expires_at,
            )
            for entry in entries
            if entry.kind == "file" and (kind := report_kind(entry.name)) is not None
        ]
        order = {"report": 0, "timeline": 1, "dag": 2}
        items.sort(key=lambda item: (order[item.kind], item.name))
        return RunReports(run_id=run.id, items=items)

    async def _output_folder(
        self,
        run: Run,
        relative: str,
        caller_token: str,
        *,
        limit: int,
        offset: int,
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> tuple[list[OutputEntry], int]:
        """A folder of the run's outputs (``keep``: only the entries it keeps, the only ones
        signed); the count is the folder's."""
        base = run.outdir
        folder = base + (relative + "/" if relative else "")
        entries, count = await self.files.list_folder(
            caller_token, self.access.project_id, folder, limit=limit, offset=offset
        )
        for entry in entries:
            if not entry.get("name"):
                entry["name"] = posixpath.basename(str(entry["path"]).rstrip("/"))
        if keep is not None:
            entries = [entry for entry in entries if keep(entry)]
        urls = await self.files.download_urls(
            caller_token,
            self.access.project_id,
            [entry["path"] for entry in entries if entry.get("kind") == "file"],
        )
        items = []
        for entry in entries:
            signed = urls.get(entry["path"], {})
            items.append(
                OutputEntry(
                    path=str(entry["path"]).removeprefix(base),
                    project_path=entry["path"],
                    name=entry["name"],
                    kind=entry.get("kind", "file"),
                    size=entry.get("size"),
                    modified=entry.get("modified"),
                    download_url=signed.get("url"),
                    download_url_expires_at=signed.get("expires_at"),
                )
            )
        return items, count

    # -- helpers -----------------------------------------------------------------------------

    def _check_params(self, run: Run, version: PipelineVersion) -> None:
        if version.params_schema is None:
            return
        params = with_schema_defaults(version.params_schema, effective_params(run, version))
        problems = [
            _as_input_path(problem) if problem.field == "params.input" else problem
            for problem in params_problems(version.params_schema, params)
        ]
        if problems:
            fields = ", ".join(str(problem.field) for problem in problems[:10])
            raise InvalidLaunch(
                f"{len(problems)} parameter problem(s) for {run.pipeline_slug} "
                f"{run.pipeline_version}: {fields}.",
                errors=problems,
            )

    async def _known_secrets(self, names: Sequence[str]) -> list[str]:
        """The names, each once; 422 naming those neither the project nor its org has."""
        wanted = list(dict.fromkeys(names))
        unknown = await unknown_secret_names(
            self.session, self.access.org_id, self.access.project_id, wanted
        )
        if unknown:
            raise InvalidLaunch(
                f"No secret {', '.join(unknown)} in this project or its org; GET /secrets "
                f"lists them, POST /secrets sets one.",
                errors=[
                    FieldProblem(f"secrets.{list(names).index(name)}", f"no secret {name}")
                    for name in unknown
                ],
            )
        return wanted

    async def _usable_env(self, env_id: uuid.UUID | None) -> None:
        """A relaunch goes where the run went: refused when that environment refuses runs."""
        if env_id is None:
            return
        env = await ComputeEnvRepository(self.session).get(env_id)
        if env is not None and env.status != ComputeEnvStatus.AVAILABLE:
            raise ComputeEnvUnusable(
                f"The run's compute environment {env.name!r} is {env.status}"
                f"{': ' + env.status_reason if env.status_reason else ''}; an org admin can fix "
                f"and validate it."
            )

    async def _existing_file(self, path: str, caller_token: str) -> str:
        """The input as the files service names it; 422 when it is missing or a folder."""
        try:
            found = await self.files.stat(caller_token, self.access.project_id, path)
        except BadRequest as exc:  # a path the files service refuses (.., NUL, …)
            raise InvalidLaunch(
                exc.detail, errors=[FieldProblem("input.path", exc.detail)]
            ) from exc
        if found is None or found.get("kind") != "file":
            what = "a folder" if found is not None else "not in this project's files"
            detail = f"The input {path!r} is {what}; give the samplesheet file's path."
            raise InvalidLaunch(detail, errors=[FieldProblem("input.path", detail)])
        return str(found["path"])

    async def _record(self, action: str, run: Run, details: dict[str, Any]) -> None:
        await self.audit.record_in_project(
            self.session, self.access, action, "run", run.id, details
        )


def _as_input_path(problem: FieldProblem) -> FieldProblem:
    """nfhub sets params.input from the launch's input.path: name the field the caller gave."""
    if problem.type == "required":
        return replace(
            problem,
            field="input.path",
            message="the pipeline needs an input samplesheet: give input.path",
        )
    return replace(problem, field="input.path")
