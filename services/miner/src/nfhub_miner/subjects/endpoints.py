from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_miner.deps import SamplesEditor, SamplesViewer
from nfhub_miner.fields import SEARCH_PATTERN, TAG_PATTERN
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.subjects.schemas import SubjectCreate, SubjectDeleted, SubjectRead, SubjectUpdate
from nfhub_miner.subjects.service import SubjectService
from nfhub_shared.audit import AuditDep
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of
from nfhub_shared.schemas import IsoDateTime

router = APIRouter(prefix="/subjects", tags=["subjects"])


async def get_reader(
    session: AsyncSessionDep, audit: AuditDep, access: SamplesViewer
) -> SubjectService:
    return SubjectService(session, audit, access)


async def get_writer(
    session: AsyncSessionDep, audit: AuditDep, access: SamplesEditor
) -> SubjectService:
    return SubjectService(session, audit, access)


Reader = Annotated[SubjectService, Depends(get_reader)]
Writer = Annotated[SubjectService, Depends(get_writer)]


@router.get("", response_model=Page[SubjectRead])
async def list_subjects(
    request: Request,
    response: Response,
    page: PageParamsDep,
    subjects: Reader,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=SEARCH_PATTERN,
            description="Words (letters or digits) in ids, tags or properties",
        ),
    ] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    created_after: IsoDateTime | None = None,
    created_before: IsoDateTime | None = None,
) -> Page[SubjectRead]:
    """This project's subjects, newest first."""
    items, count = await subjects.list_subjects(
        RecordFilters(q, tag, created_after, created_before),
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(request, response, page, items, count)


@router.post("", response_model=SubjectRead, status_code=status.HTTP_201_CREATED)
async def create_subject(
    subject_create: SubjectCreate, request: Request, response: Response, subjects: Writer
) -> SubjectRead:
    """Add a subject (display_id unique in the project)."""
    created = await subjects.create(subject_create)
    response.headers["Location"] = str(request.url_for("get_subject", subject_id=created.id))
    return created


@router.get("/{subject_id}", response_model=SubjectRead)
async def get_subject(subject_id: uuid.UUID, subjects: Reader) -> SubjectRead:
    """A subject, with how many samples it has."""
    return await subjects.get_read(subject_id)


@router.patch("/{subject_id}", response_model=SubjectRead)
async def update_subject(
    subject_id: uuid.UUID, subject_update: SubjectUpdate, subjects: Writer
) -> SubjectRead:
    """Change some of a subject's fields."""
    return await subjects.update(subject_id, subject_update)


@router.delete("/{subject_id}", response_model=SubjectDeleted)
async def delete_subject(
    subject_id: uuid.UUID,
    subjects: Writer,
    cascade: Annotated[bool, Query(description="Delete the subject's samples too")] = False,
) -> SubjectDeleted:
    """Delete a subject; 409 while it has samples, unless ?cascade=true."""
    return await subjects.delete(subject_id, cascade=cascade)
