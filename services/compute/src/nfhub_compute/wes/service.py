"""GA4GH WES 1.1 over nfhub's runs: one run model, WES's shapes.

A WES launch becomes a RunCreate and goes through RunService.create, the launch path of
``POST /api/v1/runs`` (the pipeline's parameter schema, the compute environment rules, the
secrets, the audit record, the worker's wake-up); cancel is RunService.cancel. WES only adds
the request it was given (kept on the run for its RunLog) and reads runs and tasks in its
own shapes, keyset-paged.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from nfhub_compute.config import Settings
from nfhub_compute.models import Run, Task
from nfhub_compute.pipelines.schemas import SLUG_PATTERN, VERSION_PATTERN
from nfhub_compute.runs.errors import IllegalRunTransition
from nfhub_compute.runs.schemas import RunCreate, RunInput
from nfhub_compute.runs.service import RunService
from nfhub_compute.runs.states import RunState
from nfhub_compute.wes.errors import InvalidWesRequest, WesRunNotFound, WesTaskNotFound
from nfhub_compute.wes.paging import run_key, run_token, task_key, task_token
from nfhub_compute.wes.repository import WesReads, WesRepository
from nfhub_compute.wes.schemas import (
    DEFAULT_PAGE_SIZE,
    ENGINE,
    MAX_PAGE_SIZE,
    WES_VERSION,
    WORKFLOW_TYPE,
    DefaultWorkflowEngineParameter,
    JsonDocument,
    Log,
    RunId,
    RunLog,
    RunRequest,
    ServiceInfo,
    ServiceOrganization,
    ServiceType,
    TaskListResponse,
    TaskLog,
    WesLaunch,
    WorkflowEngineVersion,
    WorkflowTypeVersion,
)
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.db.driver import ReadConnect
from nfhub_shared.db.session import AsyncSession

# workflow_engine_parameters a launch may give, with what they set (service-info lists them).
ENGINE_PARAMETERS = {
    "profile": "Nextflow profiles, comma-separated (-profile); default the version's",
    "compute_env_id": "The compute environment's id; default the org's primary",
    "secrets": "Names of project or org secrets the pipeline reads, comma-separated",
    "name": "The run's name in nfhub",
    "revision": "With a source URL as workflow_url: the registered version's git revision",
}
TAG_PROJECT = "project"
SUPPORTED_PROTOCOLS = ["file", "s3"]
_SLUG = re.compile(SLUG_PATTERN)
_VERSION = re.compile(VERSION_PATTERN)


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _start(run: Run) -> datetime | None:
    return run.running_at or run.workflow_started_at or run.initializing_at


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def page_size_of(page_size: int | None) -> int:
    """The spec's page_size is the caller's preference ("may return fewer"): kept within 1 to
    MAX_PAGE_SIZE rather than refused (ListTasks has no 400 to refuse it with)."""
    if page_size is None:
        return DEFAULT_PAGE_SIZE
    return max(1, min(page_size, MAX_PAGE_SIZE))


class WesReadService:
    """What WES reads in single statements on the read pool: no session needed."""

    def __init__(self, settings: Settings, access: ProjectAccess, reads: ReadConnect) -> None:
        self.settings = settings
        self.access = access
        self.reads = reads

    @staticmethod
    async def project_of(reads: ReadConnect, run_id: uuid.UUID) -> uuid.UUID | None:
        """The project a run is in, whoever asks: for clients that cannot name it (the
        caller's membership of it is checked next)."""
        async with reads() as connection:
            return await WesReads(connection).project_of(run_id)

    # -- service-info ----------------------------------------------------------------------

    async def service_info(self, docs_url: str) -> ServiceInfo:
        async with self.reads() as connection:
            reads = WesReads(connection)
            counts = await reads.state_counts(self.access.project_id)
            env = await reads.primary_env(self.access.org_id)
        defaults = [
            DefaultWorkflowEngineParameter(
                name="compute_env_id", type="string", default_value=str(env.id) if env else None
            ),
            DefaultWorkflowEngineParameter(name="profile", type="string", default_value=None),
            DefaultWorkflowEngineParameter(name="secrets", type="string", default_value=None),
            DefaultWorkflowEngineParameter(name="name", type="string", default_value=None),
            DefaultWorkflowEngineParameter(name="revision", type="string", default_value=None),
        ]
        tags = {"project_tag": TAG_PROJECT}
        if env is not None:
            tags.update(compute_env=env.name, backend=env.backend)
        return ServiceInfo(
            id="dev.nfhub.compute.wes",
            name="nfhub WES",
            type=ServiceType(group="org.ga4gh", artifact="wes", version=WES_VERSION),
            description="GA4GH WES 1.1 for nfhub's registered Nextflow pipelines. Name the "
            "project in X-Project-ID (or, for a launch, in tags.project).",
            organization=ServiceOrganization(name="nfhub", url=self.settings.WES_ORG_URL),
            documentationUrl=docs_url,
            environment=self.settings.ENVIRONMENT,
            version=WES_VERSION,
            workflow_type_versions={
                WORKFLOW_TYPE: WorkflowTypeVersion(
                    workflow_type_version=list(self.settings.WES_DSL_VERSIONS)
                )
            },
            supported_wes_versions=[WES_VERSION],
            supported_filesystem_protocols=SUPPORTED_PROTOCOLS,
            workflow_engine_versions={
                ENGINE: WorkflowEngineVersion(
                    workflow_engine_version=list(self.settings.WES_NEXTFLOW_VERSIONS)
                )
            },
            default_workflow_engine_parameters=defaults,
            system_state_counts={state.value: counts.get(state.value, 0) for state in RunState},
            auth_instructions_url=self.settings.WES_AUTH_INSTRUCTIONS_URL or docs_url,
            tags=tags,
        )

    # -- runs --------------------------------------------------------------------------------

    async def list_runs(self, page_size: int | None, page_token: str | None) -> JsonDocument:
        """A RunListResponse, rendered by the database: building 50 summaries in Python (the
        rows decoded, a model validated and serialised) cost several times the query and
        the rest of the request together (bench/wes.py)."""
        size = page_size_of(page_size)
        after = run_key(page_token) if page_token else None
        async with self.reads() as connection:
            page = await WesReads(connection).run_page(self.access.project_id, after, size)
        token = run_token(page.last) if page.last is not None else ""
        # The token is URL-safe base64: nothing in it needs escaping in a JSON string.
        body = f'{{"runs":{page.summaries},"next_page_token":"{token}"}}'
        return JsonDocument(body.encode())

    @staticmethod
    async def status(
        reads: ReadConnect, run_id: uuid.UUID, project_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, JsonDocument]:
        """The run's project and its RunStatus in one read: in ``project_id`` when the client
        named it (its membership checked before), else wherever it is (checked after)."""
        async with reads() as connection:
            found = await WesReads(connection).run_state(run_id, project_id)
        if found is None:
            raise WesRunNotFound(f"No run {run_id} in this project.")
        # Two fields with no character to escape (a UUID, a state's name): written out
        # rather than a RunStatus validated, then re-validated and serialised by FastAPI.
        state = RunState(found[1]).value
        return found[0], JsonDocument(f'{{"run_id":"{run_id}","state":"{state}"}}'.encode())


class WesService(WesReadService):
    """WES over the runs domain: launches, cancels, run logs and tasks, on the request's
    session (one transaction)."""

    def __init__(
        self,
        session: AsyncSession,
        settings: Settings,
        audit: AuditWriter,
        access: ProjectAccess,
        *,
        admin: AdminClient,
        files: FilesClient,
        reads: ReadConnect,
    ) -> None:
        super().__init__(settings, access, reads)
        self.session = session
        self.wes = WesRepository(session)
        self.runs = RunService(session, settings, audit, access, admin=admin, files=files)
        self.files = files

    async def run_log(self, run_id: uuid.UUID, base_url: str, api_url: str) -> RunLog:
        run = await self._run(run_id)
        api_run = f"{api_url}/runs/{run.id}"
        system_logs = [line for line in (run.state_reason, run.error_message) if line]
        return RunLog(
            run_id=str(run.id),
            request=request_of(run),
            state=RunState(run.state),
            run_log=Log(
                name=run.name,
                cmd=run.command_line.split() if run.command_line else None,
                start_time=_time(_start(run)),
                end_time=_time(run.finished_at),
                stdout=f"{api_run}/log?source=console",
                stderr=f"{api_run}/log?source=nextflow",
                exit_code=run.exit_code,
                system_logs=system_logs or None,
            ),
            task_logs_url=f"{base_url}/runs/{run.id}/tasks",
            outputs={
                "outdir": run.outdir_uri,
                "project_path": run.outdir,
                "listing_url": f"{api_run}/outputs",
            },
        )

    async def create(self, launch: WesLaunch, caller_token: str) -> Run:
        self._check_language(launch)
        if launch.attachments and not self.settings.WES_ALLOW_ATTACHMENTS:
            raise InvalidWesRequest(
                "workflow_attachment is not accepted here: nfhub runs registered pipelines "
                "only. Name one in workflow_url (its slug, slug/version, or its source URL), "
                "and put input files in the project's storage (workflow_params.input is a "
                "path there)."
            )
        unknown = sorted(set(launch.workflow_engine_parameters) - set(ENGINE_PARAMETERS))
        if unknown:
            raise InvalidWesRequest(
                f"Unknown workflow_engine_parameters {', '.join(unknown)}; this server takes "
                f"{', '.join(ENGINE_PARAMETERS)}."
            )
        engine = launch.workflow_engine_parameters
        slug, version = await self._pipeline_of(launch.workflow_url, engine.get("revision"))
        params = dict(launch.workflow_params)
        if launch.attachments:
            params = await self._attach(launch, params, caller_token)
        input_path = params.pop("input", None)
        if input_path is not None and not isinstance(input_path, str):
            raise InvalidWesRequest(
                "workflow_params.input must be a path in the project's storage (a string)."
            )
        fields: dict[str, Any] = {
            "pipeline": slug,
            "version": version,
            "params": params,
            "input": RunInput(path=input_path) if input_path else None,
        }
        if "profile" in engine:
            fields["profiles"] = _split(engine["profile"])
        if "secrets" in engine:
            fields["secrets"] = _split(engine["secrets"])
        if "name" in engine:
            fields["name"] = engine["name"]
        if "compute_env_id" in engine:
            fields["compute_env_id"] = engine["compute_env_id"]
        try:
            run_create = RunCreate.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'request'}: {error['msg']}"
                for error in exc.errors()[:10]
            )
            raise InvalidWesRequest(f"The request is not valid: {problems}.") from None
        request = {
            "workflow_params": launch.workflow_params,
            "workflow_type": launch.workflow_type,
            "workflow_type_version": launch.workflow_type_version,
            "tags": launch.tags,
            "workflow_engine": launch.workflow_engine,
            "workflow_engine_version": launch.workflow_engine_version,
            "workflow_engine_parameters": launch.workflow_engine_parameters,
            "workflow_url": launch.workflow_url,
        }
        return await self.runs.create(run_create, caller_token, wes_request=request)

    async def cancel(self, run_id: uuid.UUID) -> RunId:
        """RunService.cancel; a run that has already ended is left as it is (its state says
        how it ended): WES's cancel has no refusal for it, and there is nothing to stop."""
        run = await self._run(run_id)
        if not RunState(run.state).terminal:
            try:
                run = await self.runs.cancel(run.id)
            except IllegalRunTransition:
                # It ended since it was read: the cancel's locked read has refreshed ``run``.
                if not RunState(run.state).terminal:
                    raise
        return RunId(run_id=str(run.id))

    # -- tasks -------------------------------------------------------------------------------

    async def tasks(
        self, run_id: uuid.UUID, page_size: int | None, page_token: str | None, api_url: str
    ) -> TaskListResponse:
        size = page_size_of(page_size)
        run = await self._run(run_id)
        after = task_key(page_token, run.id) if page_token else None
        tasks = await self.wes.task_page(run.id, after, size + 1)
        more = len(tasks) > size
        tasks = tasks[:size]
        return TaskListResponse(
            task_logs=[task_log(task, f"{api_url}/runs/{run.id}") for task in tasks],
            next_page_token=task_token(tasks[-1].task_id) if more else "",
        )

    async def task(self, run_id: uuid.UUID, task_id: str, api_url: str) -> TaskLog:
        run = await self._run(run_id)
        number = (
            int(task_id) if task_id.isascii() and task_id.isdigit() and len(task_id) < 19 else None
        )
        task = await self.wes.task(run.id, number) if number is not None else None
        if task is None:
            raise WesTaskNotFound(f"Run {run.id} has no task {task_id[:40]!r}.")
        return task_log(task, f"{api_url}/runs/{run.id}")

    # -- helpers -----------------------------------------------------------------------------

    async def _run(self, run_id: uuid.UUID) -> Run:
        run = await self.runs.runs.get_in_project(self.access.project_id, run_id)
        if run is None:
            raise WesRunNotFound(f"No run {run_id} in this project.")
        return run

    def _check_language(self, launch: WesLaunch) -> None:
        if launch.workflow_type != WORKFLOW_TYPE:
            raise InvalidWesRequest(
                f"workflow_type {launch.workflow_type[:40]!r} is not served here: this server "
                f"runs Nextflow pipelines, workflow_type {WORKFLOW_TYPE}."
            )
        if launch.workflow_type_version not in self.settings.WES_DSL_VERSIONS:
            raise InvalidWesRequest(
                f"workflow_type_version {launch.workflow_type_version[:40]!r} is not served "
                f"here; use one of {', '.join(self.settings.WES_DSL_VERSIONS)}."
            )
        if launch.workflow_engine is not None and launch.workflow_engine.lower() != ENGINE:
            raise InvalidWesRequest(
                f"workflow_engine {launch.workflow_engine[:40]!r} is not served here; the "
                f"engine is {ENGINE}."
            )
        version = launch.workflow_engine_version
        if version is not None:
            if launch.workflow_engine is None:
                raise InvalidWesRequest(
                    "workflow_engine_version needs workflow_engine (nextflow) beside it."
                )
            if version not in self.settings.WES_NEXTFLOW_VERSIONS:
                raise InvalidWesRequest(
                    f"workflow_engine_version {version[:40]!r} is not served here; use one of "
                    f"{', '.join(self.settings.WES_NEXTFLOW_VERSIONS)} or leave it out."
                )

    async def _attach(
        self, launch: WesLaunch, params: dict[str, Any], caller_token: str
    ) -> dict[str, Any]:
        """Put the attached files into the project's storage (wes/<upload id>/<name>); a
        parameter whose value is an attachment's name becomes that file's path."""
        folder = f"wes/{uuid.uuid4()}/"
        paths = {}
        for attachment in launch.attachments:
            path = folder + attachment.name
            await self.files.upload(
                caller_token, self.access.project_id, path, attachment.data,
                attachment.content_type,
            )  # fmt: skip
            paths[attachment.name] = path
        return {
            name: paths.get(value, value) if isinstance(value, str) else value
            for name, value in params.items()
        }

    async def _pipeline_of(self, url: str, revision: str | None) -> tuple[str, str | None]:
        """(slug, version) of the registered pipeline workflow_url names: ``slug``,
        ``slug/version``, or the git source URL of a version (with ``revision`` to pick one
        of several)."""
        if "://" not in url and not url.startswith("git@"):
            slug, _, version = url.strip().partition("/")
            if _SLUG.match(slug) and (not version or _VERSION.match(version)):
                return slug, version or None
            raise InvalidWesRequest(
                f"workflow_url {url[:100]!r} names no registered pipeline: give its slug, "
                f"slug/version (GET /api/v1/pipelines lists them), or its source URL."
            )
        base = url.strip().rstrip("/").removesuffix(".git")
        found = await self.wes.versions_from_source(
            self.access.org_id, [base, base + ".git", base + "/"], revision
        )
        if not found:
            at = f" at revision {revision!r}" if revision else ""
            raise InvalidWesRequest(
                f"No registered pipeline version comes from {url[:200]!r}{at}; register it "
                f"first (POST /api/v1/pipelines/…/versions) or name it by slug/version."
            )
        pipelines = {pipeline.slug for pipeline, _ in found}
        if len(pipelines) > 1:
            raise InvalidWesRequest(
                f"Several pipelines come from {url[:200]!r} ({', '.join(sorted(pipelines))}); "
                f"name one by slug/version."
            )
        pipeline, chosen = found[0]
        return pipeline.slug, chosen.version


def request_of(run: Run) -> RunRequest:
    """The WES request a run was launched with, or the one that would launch it again (for a
    run launched through /api/v1/runs)."""
    if run.wes_request:
        return RunRequest.model_validate(run.wes_request)
    params: dict[str, Any] = dict(run.params)
    if run.input_path is not None:
        params["input"] = run.input_path
    return RunRequest(
        workflow_params=params,
        workflow_type=WORKFLOW_TYPE,
        workflow_type_version="DSL2",
        tags={},
        workflow_engine=ENGINE,
        workflow_engine_parameters={"profile": ",".join(run.profiles)} if run.profiles else {},
        workflow_url=f"{run.pipeline_slug}/{run.pipeline_version}"
        if run.pipeline_id is not None
        else (run.repository or run.pipeline_slug),
    )


def task_log(task: Task, api_run: str) -> TaskLog:
    system_logs = [
        f"{name}: {value}"
        for name, value in (
            ("status", task.status),
            ("hash", task.hash),
            ("workdir", task.workdir),
            ("hostname", task.hostname),
            ("native_id", task.native_id),
            ("container", task.container),
        )
        if value
    ]
    return TaskLog(
        id=str(task.task_id),
        name=task.name or task.process,
        start_time=_time(task.start_at or task.submit_at),
        end_time=_time(task.complete_at),
        exit_code=task.exit_status,
        # The task's .command.out/.err through the API (202 while the worker ships them).
        stdout=f"{api_run}/tasks/{task.task_id}/logs?file=stdout",
        stderr=f"{api_run}/tasks/{task.task_id}/logs?file=stderr",
        system_logs=system_logs,
    )
