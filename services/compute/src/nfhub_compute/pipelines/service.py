"""Pipelines and their versions: an org's own, and the public ones (the catalog's included)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nfhub_compute.config import Settings
from nfhub_compute.models import Pipeline, PipelineVersion
from nfhub_compute.pipelines.errors import (
    InvalidPipelineSchema,
    PipelineNotFound,
    PipelineReadOnly,
    PipelineSlugTaken,
    PipelineVersionExists,
    PipelineVersionNotFound,
    PublicPipelineForbidden,
)
from nfhub_compute.pipelines.repository import PipelineRepository, PipelineVersionRepository
from nfhub_compute.pipelines.schemas import (
    PipelineCreate,
    PipelineRead,
    PipelineUpdate,
    PipelineVersionCreate,
)
from nfhub_compute.pipelines.sources import LocalSource, check_git_source
from nfhub_compute.pipelines.validation import params_problems, params_validator
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import ProjectAccess
from nfhub_shared.auth.scopes import PLATFORM_ADMIN_SCOPE
from nfhub_shared.db.session import AsyncSession


def build_version(
    pipeline_id: uuid.UUID,
    version_create: PipelineVersionCreate,
    settings: Settings,
    *,
    created_by: str | None,
    allowed_roots: list[Path] | None = None,
) -> PipelineVersion:
    """A checked version: schemas valid (read from a path source if not given), defaults known."""
    source = version_create.source
    params_schema, input_schema = version_create.params_schema, version_create.input_schema
    source_path = None
    if source.path is not None:
        local = LocalSource.inside(
            source.path, allowed_roots if allowed_roots is not None else settings.PIPELINE_ROOTS
        )
        source_path = str(local.path)
        shipped_params, shipped_input = local.schemas(max_bytes=settings.MAX_SCHEMA_BYTES)
        params_schema = params_schema if params_schema is not None else shipped_params
        input_schema = input_schema if input_schema is not None else shipped_input
    if params_schema is not None:
        params_validator(params_schema, what="params_schema")
        # Defaults must be parameters the schema knows, of the right type; "required" is
        # what the launch adds (input, outdir), so it is not asked of defaults alone.
        problems = [
            problem
            for problem in params_problems(
                params_schema, version_create.default_params, field_prefix="default_params"
            )
            if problem.type != "required"
        ]
        if problems:
            raise InvalidPipelineSchema(
                "default_params do not match params_schema.", errors=problems
            )
    if input_schema is not None:
        params_validator(input_schema, what="input_schema")
    return PipelineVersion(
        pipeline_id=pipeline_id,
        version=version_create.version,
        source_kind="git" if source.url is not None else "path",
        source_url=source.url,
        revision=source.revision,
        source_path=source_path,
        params_schema=params_schema,
        input_schema=input_schema,
        default_params=version_create.default_params,
        profiles=list(version_create.profiles),
        created_by=created_by,
    )


class PipelineService:
    def __init__(
        self, session: AsyncSession, settings: Settings, audit: AuditWriter, access: ProjectAccess
    ) -> None:
        self.session = session
        self.settings = settings
        self.audit = audit
        self.access = access
        self.pipelines = PipelineRepository(session)
        self.versions = PipelineVersionRepository(session)

    # -- reading ---------------------------------------------------------------------------

    async def list_pipelines(
        self, *, visibility: str | None, limit: int, offset: int
    ) -> tuple[list[PipelineRead], int]:
        pipelines, count = await self.pipelines.list_visible(
            self.access.org_id, visibility=visibility, limit=limit, offset=offset
        )
        latest = await self.versions.latest_of_each([pipeline.id for pipeline in pipelines])
        return [PipelineRead.of(p, latest.get(p.id)) for p in pipelines], count

    async def get_pipeline(self, pipeline_id: uuid.UUID) -> PipelineRead:
        pipeline = await self._visible(pipeline_id)
        return PipelineRead.of(pipeline, await self.versions.latest(pipeline.id))

    async def get_by_slug(self, slug: str, version: str | None) -> PipelineRead:
        pipeline, found = await self.resolve(slug, version, allow_deprecated=True)
        return PipelineRead.of(pipeline, found)

    async def list_versions(
        self, slug: str, *, include_deprecated: bool, limit: int, offset: int
    ) -> tuple[Sequence[PipelineVersion], int]:
        pipeline = await self._visible_slug(slug)
        return await self.versions.list_for(
            pipeline.id, include_deprecated=include_deprecated, limit=limit, offset=offset
        )

    async def get_version(self, slug: str, version: str) -> PipelineVersion:
        _, found = await self.resolve(slug, version, allow_deprecated=True)
        assert found is not None
        return found

    async def schema_of(self, slug: str, version: str, kind: str) -> dict[str, Any]:
        _, found = await self.resolve(slug, version, allow_deprecated=True)
        assert found is not None
        document = found.params_schema if kind == "params" else found.input_schema
        if document is None:
            what = "params schema (nextflow_schema.json)" if kind == "params" else "input schema"
            raise PipelineVersionNotFound(
                f"{slug} {version} has no {what}; add a version that carries one."
            )
        return document

    async def resolve(
        self, slug: str, version: str | None, *, allow_deprecated: bool
    ) -> tuple[Pipeline, PipelineVersion | None]:
        """The visible pipeline and the version asked for (or the latest usable one)."""
        pipeline = await self._visible_slug(slug)
        if version is None:
            return pipeline, await self.versions.latest(pipeline.id)
        found = await self.versions.get_version(pipeline.id, version)
        if found is None:
            raise PipelineVersionNotFound(
                f"Pipeline {slug} has no version {version!r}; list them at "
                f"/api/v1/pipelines/slug/{slug}/versions."
            )
        if found.deprecated_at is not None and not allow_deprecated:
            note = f" ({found.deprecation_note})" if found.deprecation_note else ""
            raise PipelineVersionNotFound(
                f"Version {version} of {slug} is deprecated{note}; pick another version."
            )
        return pipeline, found

    # -- changing --------------------------------------------------------------------------

    async def create_pipeline(self, pipeline_create: PipelineCreate) -> PipelineRead:
        if pipeline_create.visibility == "public":  # refused before the slow source check
            self._check_may_publish(f"making {pipeline_create.slug} public")
        if pipeline_create.version is not None:
            await self._check_source(pipeline_create.version, "version.")
        await self._claim_slug(pipeline_create.slug, pipeline_create.visibility)
        pipeline = await self.pipelines.add(
            Pipeline(
                org_id=self.access.org_id,
                slug=pipeline_create.slug,
                name=pipeline_create.name,
                description=pipeline_create.description,
                visibility=pipeline_create.visibility,
                from_catalog=False,
                created_by=self.access.principal.subject,
            )
        )
        version = None
        if pipeline_create.version is not None:
            version = await self._add_version(pipeline, pipeline_create.version)
        await self._record("pipeline.create", pipeline, {"slug": pipeline.slug})
        return PipelineRead.of(pipeline, version)

    async def update_pipeline(
        self, pipeline_id: uuid.UUID, pipeline_update: PipelineUpdate
    ) -> PipelineRead:
        pipeline = await self._writable(await self._visible(pipeline_id))
        changes = pipeline_update.model_dump(exclude_unset=True)
        if "name" in changes and changes["name"] is None:
            del changes["name"]
        if "visibility" in changes and changes["visibility"] is None:
            del changes["visibility"]
        if changes.get("visibility") == "public":
            await self._claim_slug(pipeline.slug, "public", pipeline_id=pipeline.id)
        await self.pipelines.update(pipeline, changes)
        await self._record("pipeline.update", pipeline, {"fields": sorted(changes)})
        return PipelineRead.of(pipeline, await self.versions.latest(pipeline.id))

    async def add_version(
        self, slug: str, version_create: PipelineVersionCreate
    ) -> PipelineVersion:
        await self._check_source(version_create, "")
        pipeline = await self._writable(await self._visible_slug(slug))
        if pipeline.visibility == "public":
            self._check_may_publish(f"adding a version to the public pipeline {slug}")
        version = await self._add_version(pipeline, version_create)
        await self._record(
            "pipeline.version.create", pipeline, {"version": version.version}, version.id
        )
        return version

    async def deprecate_version(self, slug: str, version: str, note: str | None) -> PipelineVersion:
        pipeline = await self._writable(await self._visible_slug(slug))
        found = await self.versions.get_version(pipeline.id, version)
        if found is None:
            raise PipelineVersionNotFound(f"Pipeline {slug} has no version {version!r}.")
        if found.deprecated_at is None:
            await self.versions.update(
                found, {"deprecated_at": datetime.now(UTC), "deprecation_note": note}
            )
            await self._record(
                "pipeline.version.deprecate", pipeline, {"version": version}, found.id
            )
        return found

    # -- helpers ---------------------------------------------------------------------------

    def _check_may_publish(self, what: str) -> None:
        """A public pipeline runs for every org on the shared compute host: only a platform
        admin's token (scope platform:admin) may publish one or change what it runs."""
        if PLATFORM_ADMIN_SCOPE not in self.access.principal.scopes:
            raise PublicPipelineForbidden(
                f"{what[0].upper()}{what[1:]} needs a platform admin (scope "
                f"{PLATFORM_ADMIN_SCOPE}): a public pipeline is seen and run by every "
                f"organisation. Keep it visibility 'org', or ask a platform admin to publish it."
            )

    async def _claim_slug(
        self, slug: str, visibility: str, *, pipeline_id: uuid.UUID | None = None
    ) -> None:
        """One pipeline per slug is visible to any org: an org pipeline may not take a public
        pipeline's slug (the catalog's included), and a public one no slug any org uses."""
        public = visibility == "public"
        if public:
            self._check_may_publish(f"making {slug} public")
        await self.pipelines.lock_slug(slug)
        clash = await self.pipelines.get_clashing(
            slug, self.access.org_id, public=public, exclude=pipeline_id
        )
        if clash is None:
            return
        if clash.org_id == self.access.org_id:
            whose = "Your organisation already has a pipeline"
        elif clash.from_catalog:
            whose = "The catalog has a pipeline"
        elif clash.visibility == "public":
            whose = "Another organisation publishes a pipeline"
        else:
            whose = "Another organisation has a pipeline"
        raise PipelineSlugTaken(
            f"{whose} {slug!r}; a slug names one pipeline for every project that can see it. "
            f"{'Add a version to it or pick' if clash.org_id == self.access.org_id else 'Pick'} "
            f"another slug."
        )

    async def _add_version(
        self, pipeline: Pipeline, version_create: PipelineVersionCreate
    ) -> PipelineVersion:
        if await self.versions.get_version(pipeline.id, version_create.version):
            raise PipelineVersionExists(
                f"{pipeline.slug} already has version {version_create.version}; versions "
                f"cannot change: register a new one."
            )
        version = build_version(
            pipeline.id, version_create, self.settings, created_by=self.access.principal.subject
        )
        return await self.versions.add(version)

    async def _check_source(self, version_create: PipelineVersionCreate, field_prefix: str) -> None:
        """A git source must answer (unless the site is air-gapped); checked before the
        database is touched, so no connection waits on the git server."""
        source = version_create.source
        if not self.settings.PIPELINE_SOURCE_CHECK or source.url is None:
            return
        assert source.revision is not None
        await check_git_source(
            source.url,
            source.revision,
            field=f"{field_prefix}source.url",
            seconds=self.settings.PIPELINE_SOURCE_CHECK_SECONDS,
            extra_env=self.settings.LAUNCH_ENV,
        )

    async def _visible(self, pipeline_id: uuid.UUID) -> Pipeline:
        pipeline = await self.pipelines.get_visible(self.access.org_id, pipeline_id)
        if pipeline is None:
            raise PipelineNotFound(f"Pipeline {pipeline_id} does not exist or you cannot see it.")
        return pipeline

    async def _visible_slug(self, slug: str) -> Pipeline:
        pipeline = await self.pipelines.get_visible_by_slug(self.access.org_id, slug)
        if pipeline is None:
            raise PipelineNotFound(
                f"No pipeline {slug!r} is visible to this project; list them at /api/v1/pipelines."
            )
        return pipeline

    async def _writable(self, pipeline: Pipeline) -> Pipeline:
        if pipeline.from_catalog:
            raise PipelineReadOnly(
                f"{pipeline.slug} comes from the catalog file; change it there (an "
                f"administrator's job), or register your own pipeline."
            )
        if pipeline.org_id != self.access.org_id:
            raise PipelineReadOnly(
                f"{pipeline.slug} is a public pipeline of another organisation; you can "
                f"launch it but not change it."
            )
        return pipeline

    async def _record(
        self,
        action: str,
        pipeline: Pipeline,
        details: dict[str, Any],
        resource_id: uuid.UUID | None = None,
    ) -> None:
        await self.audit.record_in_project(
            self.session,
            self.access,
            action,
            "pipeline_version" if resource_id else "pipeline",
            resource_id or pipeline.id,
            details,
        )
