"""Subjects: the searchable list (htmx re-renders its results as the user types), a page
each, create and edit forms with miner's field errors beside the fields, delete after a
confirmation page."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from nfhub_web.apis import ApiProblem, unless_refused
from nfhub_web.deps import CheckedProjectSession, ProjectSession
from nfhub_web.forms import FormErrors
from nfhub_web.pages import MAX_OFFSET, is_htmx, render
from nfhub_web.sessions.service import ActiveSession
from nfhub_web.state import ApisDep
from nfhub_web.subjects.schemas import (
    FORM_FIELDS,
    SEXES,
    SUBJECTS_PER_PAGE,
    SubjectFilters,
    SubjectForm,
    SubjectRead,
)
from nfhub_web.subjects.service import SubjectsService

router = APIRouter()

# What miner may refuse about a form or a search, shown on the page that sent it.
FORM_PROBLEMS = (400, 409, 422)
SEARCH_PROBLEMS = (400, 422)


def subject_filters(
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str, Query(max_length=200)] = "",
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> SubjectFilters:
    return SubjectFilters(q.strip() or None, tag.strip() or None, offset)


SubjectFiltersDep = Annotated[SubjectFilters, Depends(subject_filters)]


@router.get("/subjects")
async def list_subjects(
    request: Request, session: ProjectSession, apis: ApisDep, filters: SubjectFiltersDep
) -> Response:
    subjects, problem = await unless_refused(
        SubjectsService(apis, session).list_subjects(filters), SEARCH_PROBLEMS
    )
    return render(
        request,
        "subjects/list.html",
        session,
        status_code=problem.status if problem else 200,
        subjects=subjects,
        problem=problem,
        errors=FormErrors.of(problem, ("q", "tag")),
        filters=filters,
        per_page=SUBJECTS_PER_PAGE,
    )


@router.get("/subjects/results")
async def search_subjects(
    request: Request, session: ProjectSession, apis: ApisDep, filters: SubjectFiltersDep
) -> Response:
    """The list's results alone, for the search as the user types (an htmx fragment)."""
    subjects, problem = await unless_refused(
        SubjectsService(apis, session).list_subjects(filters), SEARCH_PROBLEMS
    )
    # 200 even when miner refuses the search: htmx swaps in only 2xx answers, and the
    # refusal is what the user must see.
    response = render(
        request,
        "subjects/_results.html",
        session,
        subjects=subjects,
        problem=problem,
        errors=FormErrors.of(problem, ("q", "tag")),
        filters=filters,
        per_page=SUBJECTS_PER_PAGE,
        oob=True,
    )
    if is_htmx(request):
        response.headers["HX-Push-Url"] = filters.url()
    return response


def form_page(
    request: Request,
    session: ActiveSession,
    form: SubjectForm,
    *,
    subject: SubjectRead | None = None,
    problem: ApiProblem | None = None,
) -> Response:
    return render(
        request,
        "subjects/form.html",
        session,
        status_code=problem.status if problem else 200,
        form=form,
        subject=subject,
        sex_options=[(sex, sex) for sex in SEXES],
        problem=problem,
        errors=FormErrors.of(problem, FORM_FIELDS),
    )


@router.get("/subjects/new")
async def new_subject(request: Request, session: ProjectSession) -> Response:
    return form_page(request, session, SubjectForm())


@router.post("/subjects/new")
async def create_subject(
    request: Request, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    form = SubjectForm.submitted(await request.form())
    try:
        subject = await SubjectsService(apis, session).create(form.body())
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        return form_page(request, session, form, problem=problem)
    return RedirectResponse(f"/subjects/{subject.id}", status_code=303)


@router.get("/subjects/{subject_id}")
async def get_subject(
    request: Request, subject_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    service = SubjectsService(apis, session)
    subject = await service.get_subject(subject_id)
    samples = await service.samples_of(subject_id)
    return render(
        request,
        "subjects/detail.html",
        session,
        subject=subject,
        samples=samples,
        created_by=await service.member_name(subject.created_by),
    )


@router.get("/subjects/{subject_id}/edit")
async def edit_subject(
    request: Request, subject_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    subject = await SubjectsService(apis, session).get_subject(subject_id)
    return form_page(request, session, SubjectForm.of(subject), subject=subject)


@router.post("/subjects/{subject_id}/edit")
async def update_subject(
    request: Request, subject_id: uuid.UUID, session: CheckedProjectSession, apis: ApisDep
) -> Response:
    service = SubjectsService(apis, session)
    form = SubjectForm.submitted(await request.form())
    try:
        await service.update(subject_id, form.body())
    except ApiProblem as problem:
        if problem.status not in FORM_PROBLEMS:
            raise
        subject = await service.get_subject(subject_id)
        return form_page(request, session, form, subject=subject, problem=problem)
    return RedirectResponse(f"/subjects/{subject_id}", status_code=303)


@router.get("/subjects/{subject_id}/delete")
async def confirm_subject_deletion(
    request: Request, subject_id: uuid.UUID, session: ProjectSession, apis: ApisDep
) -> Response:
    subject = await SubjectsService(apis, session).get_subject(subject_id)
    return render(request, "subjects/delete.html", session, subject=subject, problem=None)


@router.post("/subjects/{subject_id}/delete")
async def delete_subject(
    request: Request,
    subject_id: uuid.UUID,
    session: CheckedProjectSession,
    apis: ApisDep,
    cascade: Annotated[bool, Form()] = False,
) -> Response:
    service = SubjectsService(apis, session)
    try:
        await service.delete(subject_id, cascade=cascade)
    except ApiProblem as problem:
        if problem.status != 409:
            raise
        subject = await service.get_subject(subject_id)
        return render(
            request,
            "subjects/delete.html",
            session,
            status_code=409,
            subject=subject,
            problem=problem,
        )
    return RedirectResponse("/subjects", status_code=303)
