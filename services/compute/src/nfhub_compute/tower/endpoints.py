"""Nextflow's Tower trace protocol: ``tower.endpoint = '<compute>/api/v1/tower'``.

Nextflow's client (plugins/nf-tower TowerClient) calls ``POST {endpoint}/trace/create`` and
``PUT {endpoint}/trace/{workflowId}/begin|progress|heartbeat|complete``, each with
``?workspaceId=N`` when one is configured. A failed create or begin aborts the user's run; the
others are only logged, so they answer 2xx whenever the body is usable.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated

import orjson
import pydantic_core
from fastapi import APIRouter, Depends, Path, Request, Security
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from nfhub_compute.events.text import json_holds_nul
from nfhub_compute.runs.weblog import is_run_token, run_of_token
from nfhub_compute.state import ComputeState, ComputeStateDep
from nfhub_compute.tower.errors import for_nextflow, missing_workspace, unknown_workspace
from nfhub_compute.tower.schemas import (
    ProgressBatch,
    RunGrant,
    TraceAnswer,
    TraceBegin,
    TraceComplete,
    TraceCreate,
    TraceHeartbeat,
    TraceProgress,
)
from nfhub_compute.tower.service import TowerProgressService, TowerService
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import (
    BEARER_SCHEME,
    RequestAuth,
    insufficient_scope_challenge,
    principal_from_token,
)
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.errors import Forbidden, Unauthorized, ValidationFailed
from nfhub_shared.logging import bind_request_fields

# Nextflow sends a token that is not a JWT as HTTP Basic credentials "@token:<token>"
# (TowerClient.setAuthToken), a JWT as a bearer token.
BASIC_TOKEN_PREFIX = "@token:"  # noqa: S105 - a prefix, not a secret
MAX_TOKEN_CHARS = 4096
# A progress batch: up to 100 tasks, each with a script of up to 10240 characters and an env
# of up to 2048 (the client's tower-schema.properties), over the edge's 1 MiB default. The
# edge holds /tower/trace/ to this limit instead (main.py).
MAX_BODY_BYTES = 16 * 1024**2
TOWER_SCOPES = ("runs:write",)


async def refuse_nul(request: Request) -> None:
    """A body holding the NUL character is refused whole (events.text): 422, nothing kept."""
    if json_holds_nul(await request.body()):
        raise for_nextflow(
            ValidationFailed,
            "The report contains the NUL character (\\u0000), which nfhub cannot store; "
            "nothing of it was recorded.",
        )


router = APIRouter(prefix="/tower/trace", tags=["tower"], dependencies=[Depends(refuse_nul)])


def token_of(authorization: str | None) -> str:
    """The token in the header, as either of the two ways Nextflow sends one."""
    scheme, _, value = (authorization or "").partition(" ")
    value = value.strip()[:MAX_TOKEN_CHARS]
    if value and scheme.lower() == "bearer":
        return value
    if value and scheme.lower() == "basic":
        try:
            plain = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            plain = ""
        if plain.startswith(BASIC_TOKEN_PREFIX) and len(plain) > len(BASIC_TOKEN_PREFIX):
            return plain.removeprefix(BASIC_TOKEN_PREFIX)
    raise for_nextflow(
        Unauthorized,
        "Send your nfhub personal access token as Nextflow does: TOWER_ACCESS_TOKEN (or "
        "tower.accessToken in nextflow.config).",
    )


def workspace_of(request: Request) -> int:
    text = request.query_params.get("workspaceId")
    if text is None or not text.strip():
        raise missing_workspace()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise unknown_workspace(text)
    return int(text)


class TowerAuth(RequestAuth):
    """The project (workspace) Nextflow reports into, as the token's user with the editor
    role and ``runs:write``; refusals carry the ``message`` Nextflow prints."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False,
            scheme_name=BEARER_SCHEME,
            description="An nfhub personal access token, as Nextflow sends TOWER_ACCESS_TOKEN.",
        )

    async def __call__(self, request: Request) -> ProjectAccess | RunGrant:  # type: ignore[override]
        return await self.authenticate_request(request, TOWER_SCOPES)

    async def authenticate_request(
        self, request: Request, scopes: Sequence[str]
    ) -> ProjectAccess | RunGrant:
        state = ComputeState.of(request.app)
        token = token_of(request.headers.get("authorization"))
        if is_run_token(token):  # a run nfhub launched on the Tower channel
            run_id = run_of_token(state.settings, token)
            if run_id is None:
                raise for_nextflow(
                    Unauthorized, "The run token is not valid; it is nfhub's to hand out."
                )
            bind_request_fields(principal=f"run:{run_id}", principal_kind="run")
            return RunGrant(run_id)
        try:
            principal = await principal_from_token(token, state)
        except Unauthorized as exc:
            raise for_nextflow(Unauthorized, exc.detail, headers=exc.headers) from exc
        missing = [scope for scope in scopes if scope not in principal.scopes]
        if missing:
            raise for_nextflow(
                Forbidden,
                f"The token lacks the scope(s) {', '.join(missing)}; create one that has them.",
                headers={"WWW-Authenticate": insufficient_scope_challenge(missing)},
            )
        workspace_id = workspace_of(request)
        project_id = await state.admin_client.workspace_project(workspace_id)
        membership = (
            await state.identity.project_membership(principal, project_id)
            if project_id is not None
            else None
        )
        if project_id is None or membership is None:
            raise unknown_workspace(str(workspace_id))
        if not membership.role.allows(ProjectRole.editor):
            raise for_nextflow(
                Forbidden,
                f"Reporting runs into workspace {workspace_id} needs the editor role in its "
                f"project; you are {membership.role.value}. Ask a project admin.",
            )
        bind_request_fields(
            principal=principal.subject, principal_kind=principal.kind, project=str(project_id)
        )
        return ProjectAccess(
            principal=principal, project_id=project_id, org_id=membership.org_id,
            role=membership.role,
        )  # fmt: skip


TowerAccess = Annotated[ProjectAccess | RunGrant, Security(TowerAuth(), scopes=list(TOWER_SCOPES))]


async def get_tower(
    state: ComputeStateDep, session: AsyncSessionDep, audit: AuditDep
) -> TowerService:
    return TowerService(session, state.settings, audit)


Tower = Annotated[TowerService, Depends(get_tower)]
WorkflowId = Annotated[str, Path(max_length=64, description="From the answer to create")]


@router.post("/create", response_model=TraceAnswer, response_model_exclude_none=True)
async def create_trace(trace_create: TraceCreate, tower: Tower, access: TowerAccess) -> TraceAnswer:
    """Nextflow starts reporting a run: an external run of the workspace's project."""
    return await tower.create(access, trace_create)


@router.put("/{workflow_id}/begin", response_model=TraceAnswer, response_model_exclude_none=True)
async def begin_trace(
    workflow_id: WorkflowId, trace_begin: TraceBegin, tower: Tower, access: TowerAccess
) -> TraceAnswer:
    """The run began: its pipeline, revision, parameters, command line; RUNNING."""
    return await tower.begin(access, workflow_id, trace_begin)


async def get_tower_progress(state: ComputeStateDep) -> TowerProgressService:
    return TowerProgressService(state.settings, state.events_connect)


TowerProgress = Annotated[TowerProgressService, Depends(get_tower_progress)]
PROGRESS_BODY = {
    "required": True,
    "content": {"application/json": {"schema": TraceProgress.model_json_schema(by_alias=True)}},
}


def read_progress(body: bytes) -> ProgressBatch:
    """The body as TraceProgress, parsed once: orjson reads it (a JSON object of 100 task
    records, faster than pydantic's parser), pydantic's own parser one orjson refuses (NaN and
    Infinity, which Nextflow may write), and ProgressBatch checks the objects without copying
    the records. FastAPI would decode it with json.loads and copy every record."""
    try:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            document = pydantic_core.from_json(body)
    except ValueError as exc:  # as FastAPI reports a body that is not JSON
        error = {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error",
                 "input": {}, "ctx": {"error": str(exc)}}  # fmt: skip
        raise RequestValidationError([error], body=body) from exc
    try:
        return ProgressBatch.model_validate(document)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors, body=body) from exc


@router.put(
    "/{workflow_id}/progress",
    response_model=TraceAnswer,
    response_model_exclude_none=True,
    openapi_extra={"requestBody": PROGRESS_BODY},
)
async def report_trace_progress(
    workflow_id: WorkflowId, request: Request, tower: TowerProgress, access: TowerAccess
) -> TraceAnswer:
    """A batch of task changes (the latest per task), upserted like weblog events."""
    body = await request.body()
    return await tower.progress(access, workflow_id, read_progress(body))


@router.put(
    "/{workflow_id}/heartbeat", response_model=TraceAnswer, response_model_exclude_none=True
)
async def report_trace_heartbeat(
    workflow_id: WorkflowId, trace_heartbeat: TraceHeartbeat, tower: Tower, access: TowerAccess
) -> TraceAnswer:
    """Nextflow is alive (an UNKNOWN run is RUNNING again)."""
    return await tower.heartbeat(access, workflow_id, trace_heartbeat)


@router.put("/{workflow_id}/complete", response_model=TraceAnswer, response_model_exclude_none=True)
async def complete_trace(
    workflow_id: WorkflowId, trace_complete: TraceComplete, tower: Tower, access: TowerAccess
) -> TraceAnswer:
    """The run ended: COMPLETE, or EXECUTOR_ERROR with Nextflow's error message."""
    return await tower.complete(access, workflow_id, trace_complete)
