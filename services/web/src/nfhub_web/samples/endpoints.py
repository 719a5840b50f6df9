"""Samples: the searchable list (htmx re-renders its results as the user types), a page each
with its files and miner's pipeline-ready JSON, create and edit forms with miner's field
errors beside the fields, delete after a confirmation page, and the import of a samplesheet
whose refused rows are shown with their errors."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem, unless_refused
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.forms import FormErrors
from nfhub_web.pages import MAX_OFFSET, error_page, is_htmx, render
from nfhub_web.samples.schemas import (
    FORM_FIELDS,
    SAMPLE_TYPES,
    SAMPLES_PER_PAGE,
    SampleFilters,
    SampleForm,
    SampleRead,
    SubjectBrief,
    import_view,
)
from nfhub_web.samples.service import SamplesService
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep, SettingsDep
from nfhub_web.subjects.schemas import SubjectRead

router = APIRouter()

# What miner may refuse about a form or a search, shown on the page that sent it.
FORM_PROBLEMS = (400, 409, 422)
SEARCH_PROBLEMS = (400, 422)
IMPORT_PROBLEMS = (400, 413, 415, 422)
SEARCH_FIELDS = ("q", "sample_type", "subject_id", "tag")
READ_CHUNK = 1024 * 1024


def sample_filters(
    q: Annotated[str, Query(max_length=200)] = "",
    sample_type: Annotated[str, Query(max_length=50)] = "",
    subject_id: uuid.UUID | None = None,
    tag: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SampleFilters:
    return SampleFilters(
        q.strip() or None, sample_type or None, subject_id, tag.strip() or None, offset
    )


SampleFiltersDep = Annotated[SampleFilters, Depends(sample_filters)]


@router.get("/samples")
async def list_samples(
    request: Request, session: ProjectSession, apis: ApisDep, filters: SampleFiltersDep
) -> Response:
    samples, problem = await unless_refused(
        SamplesService(apis, session).list_samples(filters), SEARCH_PROBLEMS
    )
    return render(
        request,
        "samples/list.html",
        session,
        status_code=problem.status if problem else 200,
        samples=samples,
        problem=problem,
        errors=FormErrors.of(problem, SEARCH_FIELDS),
        filters=filters,
        sample_types=SAMPLE_TYPES,
        per_page=SAMPLES_PER_PAGE,
    )


@router.get("/samples/results")
async def search_samples(
    request: Request, session: ProjectSession, apis: ApisDep, filters: SampleFiltersDep
) -> Response:
    """The list's results alone, for the search as the user types (an htmx fragment)."""
    samples, problem = await unless_refused(
        SamplesService(apis, session).list_samples(filters), SEARCH_PROBLEMS
    )
    # 200 even when miner refuses the search: htmx swaps in only 2xx answers, and the
    # refusal is what the user must see.
    response = render(
        request,
        "samples/_results.html",
        session,
        samples=samples,
        problem=problem,
        errors=FormErrors.of(problem, SEARCH_FIELDS),
        filters=filters,
        per_page=SAMPLES_PER_PAGE,
        oob=True,
    )
    if is_htmx(request):
        response.headers["HX-Push-Url"] = filters.url()
    return response


async def form_page(
    request: Request,
    session: ActiveSession,
    service: SamplesService,
    form: SampleForm,
    *,
    sample: SampleRead | None = None,
    problem: ApiProblem | None = None,
) -> Response:
    subjects = await service.subjects()
    subjects_offered: list[SubjectRead | SubjectBrief] = list(subjects)
    if form.subject_id and all(str(s.id) != form.subject_id for s in subjects):
        # Older than the newest offered, yet the one picked (the sample's, or the subject
        # page's "Add a sample"): offered too, or the select would fall back to none.
        picked: SubjectRead | SubjectBrief | None = None
        if sample and sample.subject and str(sample.subject.id) == form.subject_id:
            picked = sample.subject
        else:
            picked = await service.picked_subject(form.subject_id)
        if picked is not None:
            subjects_offered.insert(0, picked)
    return render(
        request,
        "samples/form.html",
        session,
        status_code=problem.status if problem else 200,
        form=form,
        sample=sample,
        subjects=subjects_offered,
        sample_types=SAMPLE_TYPES,
        problem=problem,
        errors=FormErrors.of(problem, FORM_FIELDS),
    )


@router.get("/samples/new")
async def new_sample(
    request: Request,
    session: ProjectSession,
    apis: ApisDep,
    subject_id: uuid.UUID | None = None,
) -> Response:
    form = SampleForm(subject_id=str(subject_id) if subject_id else "")
    return await form_page(request, session, SamplesService(apis, session), form)


@router.post("/samples/new")
async def create_sample(
    request: Request, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    service = SamplesService(apis, session)
    form = SampleForm.submitted(await request.form())
    try:
        sample = await service.create(form.body())
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return await form_page(request, session, service, form, problem=problem)
    return RedirectResponse(f"/samples/{sample.id}", status_code=303)


@router.get("/samples/import")
async def import_form(request: Request, session: ProjectSession, apis: ApisDep) -> Response:
    pipelines = await SamplesService(apis, session).pipeline_choices()
    return render(
        request, "samples/import.html", session, pipelines=pipelines, view=None, pipeline=""
    )


@router.post("/samples/import")
async def import_samples(
    request: Request,
    session: CheckedProjectSession,
    apis: ApisDep,
    settings: SettingsDep,
    sheet: Annotated[UploadFile, File()],
    pipeline: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    service = SamplesService(apis, session)
    body = bytearray()
    while chunk := await sheet.read(READ_CHUNK):
        body += chunk
        if len(body) > settings.IMPORT_MAX_BYTES:
            return error_page(
                request,
                413,
                f"A samplesheet is at most {settings.IMPORT_MAX_BYTES} bytes here; split it.",
                session=session,
                title="Samplesheet too large",
            )
    filename = sheet.filename or "samplesheet.csv"
    content_type = sheet.content_type or "text/csv"
    try:
        result = await service.import_sheet(bytes(body), filename, content_type, pipeline or None)
    except ApiProblem as problem:
        if problem.status not in IMPORT_PROBLEMS:
            raise
        return render(
            request,
            "samples/import.html",
            session,
            status_code=problem.status,
            pipelines=await service.pipeline_choices(),
            pipeline=pipeline,
            view=import_view(bytes(body), filename, problem),
        )
    return render(
        request, "samples/imported.html", session, status_code=201, result=result, filename=filename
    )


@router.get("/samples/{sample_id}")
async def get_sample(
    request: Request, sample_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    service = SamplesService(apis, session)
    sample = await service.get_sample(sample_id)
    sampleinfo, sampleinfo_problem = await service.sampleinfo(sample_id)
    return render(
        request,
        "samples/detail.html",
        session,
        sample=sample,
        created_by=await service.member_name(sample.created_by),
        sampleinfo=sampleinfo,
        sampleinfo_problem=sampleinfo_problem,
    )


@router.get("/samples/{sample_id}/edit")
async def edit_sample(
    request: Request, sample_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    service = SamplesService(apis, session)
    sample = await service.get_sample(sample_id)
    return await form_page(request, session, service, SampleForm.of(sample), sample=sample)


@router.post("/samples/{sample_id}/edit")
async def update_sample(
    request: Request, sample_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    service = SamplesService(apis, session)
    form = SampleForm.submitted(await request.form())
    try:
        await service.update(sample_id, form.body())
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        sample = await service.get_sample(sample_id)
        return await form_page(request, session, service, form, sample=sample, problem=problem)
    return RedirectResponse(f"/samples/{sample_id}", status_code=303)


@router.get("/samples/{sample_id}/delete")
async def confirm_sample_deletion(
    request: Request, sample_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    sample = await SamplesService(apis, session).get_sample(sample_id)
    return render(request, "samples/delete.html", session, sample=sample, problem=None)


@router.post("/samples/{sample_id}/delete")
async def delete_sample(
    request: Request, sample_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    service = SamplesService(apis, session)
    try:
        await service.delete(sample_id)
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        sample = await service.get_sample(sample_id)
        return render(
            request, "samples/delete.html", session, status_code=409, sample=sample, problem=problem
        )
    return RedirectResponse("/samples", status_code=303)
