"""GA4GH WES 1.1 at /ga4gh/wes/v1: nfhub's runs for WES clients.

The same bearer tokens as /api/v1. The project: ``X-Project-ID``; for a client that cannot
send that header, a launch names it in ``tags.project``, and a run's own routes find it from
the run (the caller must be a member of it, else 404). Errors are the spec's ErrorResponse
(``{"msg", "status_code"}``, wes.middleware), on these routes only.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from nfhub_compute.state import ComputeState, ComputeStateDep
from nfhub_compute.wes.errors import InvalidWesRequest, WesProjectRefused, WesRunNotFound
from nfhub_compute.wes.schemas import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    ErrorResponse,
    JsonDocument,
    RunId,
    RunListResponse,
    RunLog,
    RunStatus,
    ServiceInfo,
    TaskListResponse,
    TaskLog,
    WesLaunch,
)
from nfhub_compute.wes.schemas import Attachment as WesAttachment
from nfhub_compute.wes.service import TAG_PROJECT, WesReadService, WesService
from nfhub_shared.audit import AuditDep, AuditWriter
from nfhub_shared.auth.dependencies import (
    PROJECT_HEADER,
    ProjectAccessCheck,
    ProjectNotFound,
    bearer_token,
    scoped,
)
from nfhub_shared.auth.principal import Principal, ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSession, AsyncSessionDep
from nfhub_shared.errors import BadRequest
from nfhub_shared.logging import bind_request_fields
from nfhub_shared.openapi import UUID_PATTERN

WES_PREFIX = "/ga4gh/wes/v1"
MAX_JSON_FIELD_CHARS = 1024**2
MAX_ATTACHMENTS = 20
_ERROR: dict[str, Any] = {"model": ErrorResponse}
WES_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {**_ERROR, "description": "The request is not valid (ErrorResponse)"},
    401: {**_ERROR, "description": "Missing, invalid or expired token (ErrorResponse)"},
    403: {**_ERROR, "description": "The token lacks the scope, or its user the role or the "
          "project: a project you cannot see, or that does not exist (ErrorResponse)"},
    404: {**_ERROR, "description": "No such run or task in the project (ErrorResponse)"},
    413: {**_ERROR, "description": "The request body is too large (ErrorResponse)"},
    429: {**_ERROR, "description": "Too many requests from this token or address; retry "
          "after Retry-After seconds (ErrorResponse)"},
    500: {**_ERROR, "description": "An unexpected error (ErrorResponse)"},
    503: {**_ERROR, "description": "The database is not reachable; retry (ErrorResponse)"},
}  # fmt: skip

router = APIRouter(prefix=WES_PREFIX, tags=["wes"], responses=WES_ERRORS)


def _project_header(required: bool, where: str) -> dict[str, Any]:
    """X-Project-ID, read by the endpoints themselves (as ProjectRoleAuth does), documented."""
    return {
        "parameters": [
            {
                "name": PROJECT_HEADER,
                "in": "header",
                "required": required,
                "schema": {"type": "string", "pattern": UUID_PATTERN, "title": PROJECT_HEADER},
                "description": f"The project this call works in{where}.",
            }
        ]
    }


IN_PROJECT = _project_header(True, "")
FOR_LAUNCH = _project_header(False, "; without it, tags.project names it")
FOR_RUN = _project_header(False, "; without it, the run's own (you must be a member of it)")

# One check per role, each keeping the accesses it has made (as ProjectRoleAuth's do).
_ACCESS_CHECKS = {role: ProjectAccessCheck(role) for role in ProjectRole}

WesReader = Annotated[Principal, scoped("runs:read")]
WesWriter = Annotated[Principal, scoped("runs:write")]
PageSize = Annotated[
    int | None,
    Query(
        description=f"Items per page, preferred (kept within 1-{MAX_PAGE_SIZE}; default "
        f"{DEFAULT_PAGE_SIZE})"
    ),
]
PageToken = Annotated[
    str | None, Query(max_length=200, description="next_page_token of the previous page")
]


class Wes:
    """What every WES endpoint needs before it knows its project: the reads (status, lists)
    without the request's session, the rest with it."""

    def __init__(
        self,
        request: Request,
        state: ComputeState,
        session: AsyncSession | None = None,
        audit: AuditWriter | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.session = session
        self.audit = audit

    def reader(self, access: ProjectAccess) -> WesReadService:
        return WesReadService(self.state.settings, access, self.state.reads_connect)

    def service(self, access: ProjectAccess) -> WesService:
        if self.session is None or self.audit is None:  # pragma: no cover - a wiring error
            raise RuntimeError("this WES route was given no session")
        return WesService(
            self.session, self.state.settings, self.audit, access,
            admin=self.state.admin_client, files=self.state.files_client,
            reads=self.state.reads_connect,
        )  # fmt: skip

    async def access(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        minimum: ProjectRole,
        run_id: uuid.UUID | None = None,
    ) -> ProjectAccess:
        """The caller in the project, checked as every project-scoped route of compute checks
        it (ProjectRoleAuth's check); too low a role is a 403. A project they cannot see: on
        a run's routes (``run_id``) the run's 404, whichever project the client named, so
        another project's run ids stay unknown; elsewhere a 403, the status the WES spec
        gives those routes (it lists no 404 for them), alike for a project that is not there."""
        try:
            access = await _ACCESS_CHECKS[minimum](self.state, principal, project_id)
        except ProjectNotFound as exc:
            if run_id is not None:
                raise WesRunNotFound(f"No run {run_id} in this project.") from None
            raise WesProjectRefused(exc.detail) from None
        bind_request_fields(project=str(project_id))
        return access

    async def in_project(self, principal: Principal, minimum: ProjectRole) -> ProjectAccess:
        project_id = header_project(self.request)
        if project_id is None:
            raise BadRequest(
                f"Name the project in the {PROJECT_HEADER} header (a project UUID); a launch "
                f"may name it in tags.project instead."
            )
        return await self.access(principal, project_id, minimum)

    async def for_run(
        self, principal: Principal, run_id: uuid.UUID, minimum: ProjectRole
    ) -> ProjectAccess:
        """The run's project: the header's, else the run's own (for header-less clients)."""
        project_id = header_project(self.request)
        if project_id is None:
            project_id = await WesReadService.project_of(self.state.reads_connect, run_id)
            if project_id is None:
                raise WesRunNotFound(f"No run {run_id} in this project.")
        return await self.access(principal, project_id, minimum, run_id)

    @property
    def base_url(self) -> str:
        return str(self.request.base_url).rstrip("/") + WES_PREFIX

    @property
    def api_url(self) -> str:
        return str(self.request.base_url).rstrip("/") + "/api/v1"


async def get_wes(
    request: Request, state: ComputeStateDep, session: AsyncSessionDep, audit: AuditDep
) -> Wes:
    return Wes(request, state, session, audit)


async def get_wes_reads(request: Request) -> Wes:
    """For the hot reads: no session to open and commit, one dependency to solve."""
    return Wes(request, ComputeState.of(request.app))


WesDep = Annotated[Wes, Depends(get_wes)]
WesReadsDep = Annotated[Wes, Depends(get_wes_reads)]


def json_response(document: JsonDocument) -> Response:
    """A body the service rendered already, as it is: response_model documents it."""
    return Response(document.body, media_type="application/json")


def header_project(request: Request) -> uuid.UUID | None:
    value = request.headers.get(PROJECT_HEADER)
    if value is None or not value.strip():
        return None
    return project_uuid(value, PROJECT_HEADER)


def project_uuid(value: str, where: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise BadRequest(f"{where} {value[:64]!r} is not a project UUID.") from None


def run_uuid(run_id: str) -> uuid.UUID:
    """A run id, or the 404 any unknown id gets (WES's ids are strings)."""
    try:
        return uuid.UUID(run_id)
    except ValueError:
        raise WesRunNotFound(f"No run {run_id[:64]!r} in this project.") from None


def _json_object(name: str, text: str | None) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    if len(text) > MAX_JSON_FIELD_CHARS:
        raise InvalidWesRequest(f"{name} is longer than {MAX_JSON_FIELD_CHARS} characters.")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidWesRequest(f"{name} is not JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise InvalidWesRequest(f"{name} must be a JSON object.")
    return value


def _string_map(name: str, text: str | None) -> dict[str, str]:
    """A JSON object of strings; numbers and booleans are taken as their JSON text."""
    strings = {}
    for key, value in _json_object(name, text).items():
        if isinstance(value, str):
            strings[key] = value
        elif isinstance(value, bool | int | float):
            strings[key] = json.dumps(value)
        else:
            raise InvalidWesRequest(f"{name}.{key[:100]} must be a string.")
    return strings


def _required(name: str, value: str | None) -> str:
    if value is None or not value.strip():
        raise InvalidWesRequest(f"{name} is required.")
    return value.strip()


async def _attachments(parts: list[UploadFile] | None, max_bytes: int) -> tuple[WesAttachment, ...]:
    files = []
    for part in (parts or [])[: MAX_ATTACHMENTS + 1]:
        name = (part.filename or "").rsplit("/", 1)[-1]
        if not name or name in {".", ".."}:
            raise InvalidWesRequest("Each workflow_attachment needs a file name.")
        files.append(
            WesAttachment(
                name=name,
                data=await part.read(max_bytes + 1),
                content_type=part.content_type or "application/octet-stream",
            )
        )
    if len(files) > MAX_ATTACHMENTS:
        raise InvalidWesRequest(f"At most {MAX_ATTACHMENTS} workflow_attachment files.")
    return tuple(files)


Text = Annotated[str | None, Form(max_length=MAX_JSON_FIELD_CHARS)]


@router.get(
    "/service-info",
    response_model=ServiceInfo,
    response_model_exclude_none=True,
    openapi_extra=IN_PROJECT,
)
async def get_wes_service_info(wes: WesReadsDep, principal: WesReader) -> ServiceInfo:
    """GA4GH service-info with WES's fields: workflow types and engines, the engine
    parameters a launch may give (defaults from the org's primary compute environment), and
    the project's run counts by state."""
    access = await wes.in_project(principal, ProjectRole.viewer)
    docs = str(wes.request.base_url).rstrip("/") + "/docs"
    return await wes.reader(access).service_info(docs)


@router.get(
    "/runs",
    response_model=RunListResponse,
    response_model_exclude_none=True,
    openapi_extra=IN_PROJECT,
)
async def list_wes_runs(
    wes: WesReadsDep,
    principal: WesReader,
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> Response:
    """The project's runs, newest first, by keyset pages (stable while runs arrive)."""
    access = await wes.in_project(principal, ProjectRole.viewer)
    return json_response(await wes.reader(access).list_runs(page_size, page_token))


@router.post("/runs", response_model=RunId, openapi_extra=FOR_LAUNCH)
async def run_wes_workflow(
    wes: WesDep,
    principal: WesWriter,
    workflow_url: Text = None,
    workflow_type: Text = None,
    workflow_type_version: Text = None,
    workflow_params: Text = None,
    tags: Text = None,
    workflow_engine: Text = None,
    workflow_engine_version: Text = None,
    workflow_engine_parameters: Text = None,
    workflow_attachment: Annotated[list[UploadFile] | None, File()] = None,
) -> RunId:
    """Launch a registered pipeline (multipart/form-data as the spec): workflow_url is its
    slug, slug/version, or the source URL of one of its versions; workflow_type NFL."""
    tag_map = _string_map("tags", tags)
    launch = WesLaunch(
        workflow_url=_required("workflow_url", workflow_url),
        workflow_type=_required("workflow_type", workflow_type),
        workflow_type_version=_required("workflow_type_version", workflow_type_version),
        workflow_params=_json_object("workflow_params", workflow_params),
        tags=tag_map,
        workflow_engine=workflow_engine.strip() if workflow_engine else None,
        workflow_engine_version=workflow_engine_version.strip()
        if workflow_engine_version
        else None,
        workflow_engine_parameters=_string_map(
            "workflow_engine_parameters", workflow_engine_parameters
        ),
        attachments=await _attachments(
            workflow_attachment, wes.state.settings.MAX_REQUEST_BODY_BYTES
        ),
    )
    project_id = header_project(wes.request)
    if project_id is None:
        if TAG_PROJECT not in tag_map:
            raise BadRequest(
                f"Name the project in the {PROJECT_HEADER} header, or in tags.project (a "
                f"project UUID)."
            )
        project_id = project_uuid(tag_map[TAG_PROJECT], "tags.project")
    access = await wes.access(principal, project_id, ProjectRole.editor)
    run = await wes.service(access).create(launch, bearer_token(wes.request))
    return RunId(run_id=str(run.id))


@router.get(
    "/runs/{run_id}",
    response_model=RunLog,
    response_model_exclude_none=True,
    openapi_extra=FOR_RUN,
)
async def get_wes_run_log(run_id: str, wes: WesDep, principal: WesReader) -> RunLog:
    """The run: the request it was launched with, its state, its log, where its outputs are."""
    run_uuid_ = run_uuid(run_id)
    access = await wes.for_run(principal, run_uuid_, ProjectRole.viewer)
    return await wes.service(access).run_log(run_uuid_, wes.base_url, wes.api_url)


@router.get("/runs/{run_id}/status", response_model=RunStatus, openapi_extra=FOR_RUN)
async def get_wes_run_status(run_id: str, wes: WesReadsDep, principal: WesReader) -> Response:
    """The run's state."""
    run_uuid_ = run_uuid(run_id)
    project_id = header_project(wes.request)
    if project_id is not None:
        await wes.access(principal, project_id, ProjectRole.viewer, run_uuid_)
    # One read either way: without the header, the run names its project, checked after.
    run_project, status = await WesReadService.status(
        wes.state.reads_connect, run_uuid_, project_id
    )
    if project_id is None:
        await wes.access(principal, run_project, ProjectRole.viewer, run_uuid_)
    return json_response(status)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunId,
    openapi_extra=FOR_RUN,
    responses={
        409: {**_ERROR, "description": "A run Nextflow reported from elsewhere (-with-tower), "
              "which nfhub cannot stop (ErrorResponse)"},
    },
)  # fmt: skip
async def cancel_wes_run(run_id: str, wes: WesDep, principal: WesWriter) -> RunId:
    """Cancel: CANCELING until the backend confirms the run stopped, then CANCELED. A run
    that has already ended is left as it is (200; its state says how it ended)."""
    run_uuid_ = run_uuid(run_id)
    access = await wes.for_run(principal, run_uuid_, ProjectRole.editor)
    return await wes.service(access).cancel(run_uuid_)


@router.get(
    "/runs/{run_id}/tasks",
    response_model=TaskListResponse,
    response_model_exclude_none=True,
    openapi_extra=FOR_RUN,
)
async def list_wes_tasks(
    run_id: str,
    wes: WesDep,
    principal: WesReader,
    page_size: PageSize = None,
    page_token: PageToken = None,
) -> TaskListResponse:
    """The run's tasks in Nextflow's task id order, by keyset pages."""
    run_uuid_ = run_uuid(run_id)
    access = await wes.for_run(principal, run_uuid_, ProjectRole.viewer)
    return await wes.service(access).tasks(run_uuid_, page_size, page_token, wes.api_url)


@router.get(
    "/runs/{run_id}/tasks/{task_id}",
    response_model=TaskLog,
    response_model_exclude_none=True,
    openapi_extra=FOR_RUN,
)
async def get_wes_task(run_id: str, task_id: str, wes: WesDep, principal: WesReader) -> TaskLog:
    """One task (its id is Nextflow's task id)."""
    run_uuid_ = run_uuid(run_id)
    access = await wes.for_run(principal, run_uuid_, ProjectRole.viewer)
    return await wes.service(access).task(run_uuid_, task_id, wes.api_url)
