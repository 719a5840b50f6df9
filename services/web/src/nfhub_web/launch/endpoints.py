"""Launch a pipeline: pick one, fill the form its schema makes, see compute's verdict."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.launch.schemas import params_from_form
from nfhub_web.launch.service import FILES_PER_PAGE, LaunchForm, LaunchRequest, LaunchService
from nfhub_web.pages import MAX_OFFSET, render
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep

router = APIRouter()

Slug = Annotated[str, Path(pattern=r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$")]
VersionQuery = Annotated[str | None, Query(max_length=100)]
MAX_FIELD = 10_000


def form_page(
    request: Request,
    session: ActiveSession,
    form: LaunchForm,
    *,
    values: dict[str, str] | None = None,
    problem: ApiProblem | None = None,
    status_code: int = 200,
) -> Response:
    errors: dict[str, str] = {}
    for error in problem.errors if problem else []:
        key = (error.field or "").removeprefix("params.")
        errors.setdefault(key, error.message)
    return render(
        request,
        "launch/form.html",
        session,
        status_code=status_code,
        form=form,
        values=values or {},
        problem=problem,
        errors=errors,
    )


def chosen_id(value: str) -> uuid.UUID | None:
    """A select's id (the options are ids; anything else chooses nothing)."""
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


FolderQuery = Annotated[str, Query(max_length=1024)]


@router.get("/launch-picker/files")
async def pick_samplesheet_folder(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    path: FolderQuery = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """The samplesheet picker's listing of one folder (an htmx fragment), a page at a time."""
    entries = await LaunchService(apis, session).files(path, offset)
    parent = path.rstrip("/").rpartition("/")[0] + "/" if "/" in path.rstrip("/") else ""
    return render(
        request,
        "launch/_files.html",
        session,
        entries=entries,
        folder=path,
        parent=parent,
        per_page=FILES_PER_PAGE,
    )


@router.get("/launch-picker/pick")
async def pick_samplesheet(
    request: Request, session: ProjectSession, path: FolderQuery = ""
) -> Response:
    """The samplesheet input holding the picked file (an htmx fragment; the field's label
    and error stay the form's)."""
    return render(request, "launch/_input.html", session, values={"input_path": path}, errors={})


@router.get("/launch")
async def list_pipelines(request: Request, session: ProjectSession, apis: ApisDep) -> Response:
    pipelines = await LaunchService(apis, session).pipelines()
    return render(request, "launch/pipelines.html", session, pipelines=pipelines)


@router.get("/launch/{slug}")
async def launch_form(
    request: Request,
    slug: Slug,
    session: ProjectSession,
    apis: ApisDep,
    version: VersionQuery = None,
) -> Response:
    form = await LaunchService(apis, session).form(slug, version)
    return form_page(request, session, form)


@router.post("/launch/{slug}")
async def launch_pipeline(
    request: Request, slug: Slug, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    submitted = await request.form()
    values = {
        key: value[:MAX_FIELD]
        for key, value in submitted.items()
        if isinstance(value, str) and key != "csrf_token"
    }
    service = LaunchService(apis, session)
    form = await service.form(slug, values.get("version") or None)
    order_id = chosen_id(values.get("order_id", ""))
    launch = LaunchRequest(
        version=form.version,
        params=params_from_form(form.groups, values),
        # An order picked alone: the run takes the samplesheet miner wrote for it.
        input_path=values.get("input_path", "").strip() or form.samplesheet_of(order_id),
        order_id=order_id,
        compute_env_id=chosen_id(values.get("compute_env_id", "")),
        name=values.get("run_name", "").strip(),
    )
    try:
        run = await service.launch(slug, launch)
    except ApiProblem as problem:
        if problem.status not in (400, 404, 409, 422):
            raise
        return form_page(
            request, session, form, values=values, problem=problem, status_code=problem.status
        )
    return RedirectResponse(f"/runs/{run.id}", status_code=303)
