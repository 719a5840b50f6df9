from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status

from nfhub_compute.models import PipelineVersion
from nfhub_compute.pipelines.schemas import (
    SLUG_PATTERN,
    VERSION_PATTERN,
    PipelineCreate,
    PipelineRead,
    PipelineUpdate,
    PipelineVersionCreate,
    PipelineVersionDeprecate,
    PipelineVersionRead,
    Visibility,
)
from nfhub_compute.pipelines.service import PipelineService
from nfhub_compute.state import SettingsDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.auth.dependencies import project_role
from nfhub_shared.auth.principal import ProjectAccess, ProjectRole
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.pagination import Page, PageParamsDep, page_of

router = APIRouter(prefix="/pipelines", tags=["pipelines"])

PipelinesViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer, "pipelines:read")]
# Pipelines are shared by every project of the org, so registering one is a project admin's job.
PipelinesAdmin = Annotated[ProjectAccess, project_role(ProjectRole.admin, "pipelines:write")]
Slug = Annotated[str, Path(pattern=SLUG_PATTERN, description="Pipeline slug")]
Version = Annotated[str, Path(pattern=VERSION_PATTERN, description="Version name")]


async def get_reader(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: PipelinesViewer
) -> PipelineService:
    return PipelineService(session, settings, audit, access)


async def get_writer(
    settings: SettingsDep, session: AsyncSessionDep, audit: AuditDep, access: PipelinesAdmin
) -> PipelineService:
    return PipelineService(session, settings, audit, access)


Reader = Annotated[PipelineService, Depends(get_reader)]
Writer = Annotated[PipelineService, Depends(get_writer)]


@router.get("", response_model=Page[PipelineRead])
async def list_pipelines(
    request: Request,
    response: Response,
    page: PageParamsDep,
    pipelines: Reader,
    visibility: Annotated[Visibility | None, Query(description="org or public")] = None,
) -> Page[PipelineRead]:
    """Pipelines this project can launch (its org's and the public ones), each with its latest
    version."""
    items, count = await pipelines.list_pipelines(
        visibility=visibility, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.post("", response_model=PipelineRead, status_code=status.HTTP_201_CREATED)
async def create_pipeline(
    pipeline_create: PipelineCreate, request: Request, response: Response, pipelines: Writer
) -> PipelineRead:
    """Register a pipeline for the org (optionally with its first version).

    A slug names one pipeline for every project that can see it: an org pipeline may not take
    the slug of a public one (the catalog's included), nor a public one a slug any org uses
    (409 naming the clash). Visibility public needs a platform admin (scope platform:admin)."""
    created = await pipelines.create_pipeline(pipeline_create)
    response.headers["Location"] = str(request.url_for("get_pipeline", pipeline_id=created.id))
    return created


@router.get("/slug/{slug}", response_model=PipelineRead)
async def get_pipeline_by_slug(
    slug: Slug,
    pipelines: Reader,
    version: Annotated[
        str | None, Query(pattern=VERSION_PATTERN, description="A version; default the latest")
    ] = None,
) -> PipelineRead:
    """A pipeline by slug, with its latest version or the one asked for (a slug names one
    pipeline visible to a project: its org's or a public one, never both)."""
    return await pipelines.get_by_slug(slug, version)


@router.get("/slug/{slug}/versions", response_model=Page[PipelineVersionRead])
async def list_pipeline_versions(
    slug: Slug,
    request: Request,
    response: Response,
    page: PageParamsDep,
    pipelines: Reader,
    include_deprecated: bool = True,
) -> Page[Any]:
    """A pipeline's versions, newest first."""
    items, count = await pipelines.list_versions(
        slug, include_deprecated=include_deprecated, limit=page.limit, offset=page.offset
    )
    return page_of(request, response, page, items, count)


@router.post(
    "/slug/{slug}/versions",
    response_model=PipelineVersionRead,
    status_code=status.HTTP_201_CREATED,
)
async def create_pipeline_version(
    slug: Slug, version_create: PipelineVersionCreate, pipelines: Writer
) -> PipelineVersion:
    """Add a version: its source and schemas (read from a path source when not given); to a
    public pipeline, only a platform admin (scope platform:admin)."""
    return await pipelines.add_version(slug, version_create)


@router.get("/slug/{slug}/versions/{version}", response_model=PipelineVersionRead)
async def get_pipeline_version(slug: Slug, version: Version, pipelines: Reader) -> PipelineVersion:
    """One version of a pipeline."""
    return await pipelines.get_version(slug, version)


@router.post("/slug/{slug}/versions/{version}/deprecate", response_model=PipelineVersionRead)
async def deprecate_pipeline_version(
    slug: Slug,
    version: Version,
    pipelines: Writer,
    version_deprecate: PipelineVersionDeprecate | None = None,
) -> PipelineVersion:
    """Deprecate a version: no longer the latest, no new launches; old runs keep it."""
    note = version_deprecate.note if version_deprecate else None
    return await pipelines.deprecate_version(slug, version, note)


@router.get("/slug/{slug}/versions/{version}/schema", response_model=dict[str, Any])
async def get_pipeline_params_schema(
    slug: Slug, version: Version, pipelines: Reader
) -> dict[str, Any]:
    """The version's parameters schema (nextflow_schema.json): what a launch form needs."""
    return await pipelines.schema_of(slug, version, "params")


@router.get("/slug/{slug}/versions/{version}/input-schema", response_model=dict[str, Any])
async def get_pipeline_input_schema(
    slug: Slug, version: Version, pipelines: Reader
) -> dict[str, Any]:
    """The version's samplesheet schema (schema_input.json): columns of the input CSV."""
    return await pipelines.schema_of(slug, version, "input")


@router.get("/{pipeline_id}", response_model=PipelineRead)
async def get_pipeline(pipeline_id: uuid.UUID, pipelines: Reader) -> PipelineRead:
    """A pipeline by id, with its latest version."""
    return await pipelines.get_pipeline(pipeline_id)


@router.patch("/{pipeline_id}", response_model=PipelineRead)
async def update_pipeline(
    pipeline_id: uuid.UUID, pipeline_update: PipelineUpdate, pipelines: Writer
) -> PipelineRead:
    """Rename, describe, or change who can see a pipeline (org or public).

    Making it public needs a platform admin (scope platform:admin) and a slug no other
    pipeline of any org uses (409 naming the clash)."""
    return await pipelines.update_pipeline(pipeline_id, pipeline_update)
