from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from nfhub_miner.compute_client import SLUG_PATTERN
from nfhub_miner.deps import SamplesEditor, SamplesViewer
from nfhub_miner.fields import SEARCH_PATTERN, TAG_PATTERN
from nfhub_miner.records.filters import RecordFilters
from nfhub_miner.samples.importer import SampleImporter
from nfhub_miner.samples.schemas import (
    ImportFormat,
    ImportResult,
    SampleCreate,
    SampleInfo,
    SampleRead,
    SampleType,
    SampleUpdate,
)
from nfhub_miner.samples.service import SampleService
from nfhub_miner.samples.upload import FILE_PART, read_sheet
from nfhub_miner.state import (
    AdminClientDep,
    CallerTokenDep,
    ComputeClientDep,
    FilesClientDep,
    SettingsDep,
)
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of
from nfhub_shared.schemas import IsoDateTime

router = APIRouter(prefix="/samples", tags=["samples"])
IMPORT_PATH = "/api/v1/samples/import"


def _sample_service(
    session: AsyncSessionDep,
    audit: AuditDep,
    access: ProjectAccess,
    files: FilesClientDep,
    admin: AdminClientDep,
    caller_token: CallerTokenDep,
) -> SampleService:
    return SampleService(
        session, audit, access, files=files, admin=admin, caller_token=caller_token
    )


async def get_sample_reader(
    session: AsyncSessionDep,
    audit: AuditDep,
    access: SamplesViewer,
    files: FilesClientDep,
    admin: AdminClientDep,
    caller_token: CallerTokenDep,
) -> SampleService:
    return _sample_service(session, audit, access, files, admin, caller_token)


async def get_sample_writer(
    session: AsyncSessionDep,
    audit: AuditDep,
    access: SamplesEditor,
    files: FilesClientDep,
    admin: AdminClientDep,
    caller_token: CallerTokenDep,
) -> SampleService:
    return _sample_service(session, audit, access, files, admin, caller_token)


SampleReader = Annotated[SampleService, Depends(get_sample_reader)]
SampleWriter = Annotated[SampleService, Depends(get_sample_writer)]


@router.get("", response_model=Page[SampleRead])
async def list_samples(
    request: Request,
    response: Response,
    page: PageParamsDep,
    samples: SampleReader,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            pattern=SEARCH_PATTERN,
            description="Words (letters or digits) in ids, tags or properties",
        ),
    ] = None,
    sample_type: SampleType | None = None,
    subject_id: uuid.UUID | None = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    created_after: IsoDateTime | None = None,
    created_before: IsoDateTime | None = None,
) -> Page[SampleRead]:
    """This project's samples, newest first; search and filters combine."""
    items, count = await samples.list_samples(
        RecordFilters(q, tag, created_after, created_before),
        sample_type=sample_type,
        subject_id=subject_id,
        limit=page.limit,
        offset=page.offset,
    )
    return page_of(request, response, page, items, count)


@router.post("", response_model=SampleRead, status_code=status.HTTP_201_CREATED)
async def create_sample(
    sample_create: SampleCreate, request: Request, response: Response, samples: SampleWriter
) -> SampleRead:
    """Add a sample; files in the project's storage must exist (checked with the files
    service), URIs outside it are taken as given."""
    created = await samples.create(sample_create)
    response.headers["Location"] = str(request.url_for("get_sample", sample_id=created.id))
    return created


@router.post(
    "/import",
    response_model=ImportResult,
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"description": "Larger than MINER_IMPORT_MAX_BYTES (problem+json)"},
        415: {
            "description": "Neither text/csv, application/x-ndjson nor a multipart/form-data "
            "file part of either (problem+json)"
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            FILE_PART: {
                                "type": "string",
                                "format": "binary",
                                "description": "The sheet: CSV, TSV or semicolon-separated "
                                "(text/csv, or a .csv/.tsv/.txt name), or JSON lines "
                                "(application/x-ndjson, or a .jsonl/.ndjson name)",
                            }
                        },
                        "required": [FILE_PART],
                    }
                },
            },
        }
    },
)
async def import_samples(
    request: Request,
    samples: SampleWriter,
    settings: SettingsDep,
    compute: ComputeClientDep,
    file_format: Annotated[
        ImportFormat | None,
        Query(alias="format", description="Default: from the Content-Type"),
    ] = None,
    pipeline: Annotated[
        str | None,
        Query(
            pattern=SLUG_PATTERN,
            description="Also check the rows against this pipeline's samplesheet schema "
            "(its latest version), so that what imports also exports",
        ),
    ] = None,
) -> ImportResult:
    """Import subjects and samples from a samplesheet CSV (nf-core columns: sample, patient,
    sex, status, lane, fastq_1, fastq_2…; comma, semicolon or tab separated) or JSON lines,
    sent as the body or as the `file` part of a multipart/form-data upload.
    All or nothing: a 422 lists every row and column at fault, and nothing is written."""
    body, chosen = await read_sheet(request, file_format, settings.IMPORT_MAX_BYTES)
    importer = SampleImporter(
        samples, max_rows=settings.IMPORT_MAX_ROWS, compute=compute, pipeline=pipeline
    )
    return await importer.run(body, chosen)


@router.get("/{sample_id}", response_model=SampleRead)
async def get_sample(sample_id: uuid.UUID, samples: SampleReader) -> SampleRead:
    """A sample and its files."""
    return await samples.get_read(sample_id)


@router.patch("/{sample_id}", response_model=SampleRead)
async def update_sample(
    sample_id: uuid.UUID, sample_update: SampleUpdate, samples: SampleWriter
) -> SampleRead:
    """Change some of a sample's fields (files replace the sample's files)."""
    return await samples.update(sample_id, sample_update)


@router.delete("/{sample_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_sample(sample_id: uuid.UUID, samples: SampleWriter) -> Response:
    """Delete a sample; 409 while it is in an order."""
    await samples.delete(sample_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{sample_id}/sampleinfo", response_model=SampleInfo)
async def get_sampleinfo(sample_id: uuid.UUID, samples: SampleReader) -> SampleInfo:
    """Pipeline-ready JSON: the sample, its subject, its files resolved to storage URIs."""
    return await samples.sampleinfo(sample_id)
