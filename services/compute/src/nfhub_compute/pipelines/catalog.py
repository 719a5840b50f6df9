"""The catalog: a YAML file of pipelines every org can launch, registered at start-up.

    pipelines:
      - slug: demo
        name: nfhub demo
        description: Counts reads per sample.
        versions:
          - version: "1.0.0"
            source: {path: demo}          # relative to the catalog file, or absolute
            default_params: {}
            profiles: [test]
          - version: "3.14.0"
            source: {url: https://github.com/nf-core/rnaseq, revision: "3.14.0"}
            params_schema_file: schemas/rnaseq-3.14.0.json   # optional, for git sources

Catalog pipelines are public and read-only through the API: the file is their source of truth,
so a version already registered is brought up to date with it at every start.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import structlog
import yaml
from pydantic import Field, ValidationError

from nfhub_compute.config import Settings
from nfhub_compute.models import Pipeline
from nfhub_compute.pipelines.repository import PipelineRepository, PipelineVersionRepository
from nfhub_compute.pipelines.schemas import (
    SLUG_PATTERN,
    PipelineSource,
    PipelineVersionCreate,
)
from nfhub_compute.pipelines.service import build_version
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import AppError
from nfhub_shared.schemas import Schema

logger = structlog.get_logger("nfhub.compute.catalog")


class CatalogVersion(PipelineVersionCreate):
    params_schema_file: str | None = None
    input_schema_file: str | None = None


class CatalogPipeline(Schema):
    slug: str = Field(pattern=SLUG_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    versions: list[CatalogVersion] = Field(min_length=1)


class Catalog(Schema):
    pipelines: list[CatalogPipeline] = Field(default_factory=list)


class CatalogError(Exception):
    """The catalog file cannot be used; the service refuses to start with it."""


def read_catalog(path: Path) -> Catalog:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Catalog.model_validate(document or {})
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise CatalogError(f"catalog {path} is not usable: {exc}") from exc


def _resolved(entry: CatalogVersion, base: Path) -> tuple[PipelineVersionCreate, list[Path]]:
    """The version with its files read and its path made absolute, and the roots it may use."""
    values: dict[str, Any] = entry.model_dump(
        exclude={"params_schema_file", "input_schema_file", "source"}
    )
    for key, name in (
        ("params_schema", entry.params_schema_file),
        ("input_schema", entry.input_schema_file),
    ):
        if name is not None:
            try:
                values[key] = json.loads((base / name).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                raise CatalogError(f"{name} of {entry.version}: {exc}") from exc
    source = entry.source
    roots: list[Path] = []
    if source.path is not None:
        folder = Path(source.path)
        folder = (folder if folder.is_absolute() else base / folder).resolve()
        roots.append(folder)
        source = PipelineSource(path=str(folder))
    values["source"] = source
    return PipelineVersionCreate.model_validate(values), roots


Prepared = list[tuple[CatalogPipeline, list[tuple[PipelineVersionCreate, list[Path]]]]]


def prepare_catalog(path: Path) -> Prepared:
    """Read the catalog and every file it names (blocking: run it in a thread)."""
    catalog = read_catalog(path)
    base = path.resolve().parent
    return [
        (entry, [_resolved(version, base) for version in entry.versions])
        for entry in catalog.pipelines
    ]


async def sync_catalog(session: AsyncSession, settings: Settings, path: Path) -> list[str]:
    """Register or update the catalog's pipelines; returns 'slug@version' of each."""
    prepared = await anyio.to_thread.run_sync(prepare_catalog, path)
    pipelines = PipelineRepository(session)
    versions = PipelineVersionRepository(session)
    await pipelines.lock_catalog()
    synced: list[str] = []
    for entry, entry_versions in prepared:
        pipeline = await pipelines.get_owned_by_slug(None, entry.slug)
        if pipeline is None:
            # Public, so its slug must be no org's (nfhub_compute.pipelines.service._claim_slug).
            await pipelines.lock_slug(entry.slug)
            if await pipelines.get_clashing(entry.slug, None, public=True) is not None:
                raise CatalogError(
                    f"catalog pipeline {entry.slug!r}: an organisation already has a pipeline "
                    f"with that slug, and a slug names one pipeline for every org; rename the "
                    f"catalog entry."
                )
            pipeline = await pipelines.add(
                Pipeline(
                    org_id=None,
                    slug=entry.slug,
                    name=entry.name,
                    description=entry.description,
                    visibility="public",
                    from_catalog=True,
                )
            )
        else:
            await pipelines.update(pipeline, {"name": entry.name, "description": entry.description})
        for version_create, roots in entry_versions:
            try:
                built = build_version(
                    pipeline.id, version_create, settings, created_by=None, allowed_roots=roots
                )
            except AppError as exc:
                raise CatalogError(f"{entry.slug} {version_create.version}: {exc.detail}") from exc
            existing = await versions.get_version(pipeline.id, built.version)
            if existing is None:
                await versions.add(built)
            else:
                fields = (
                    "source_kind", "source_url", "revision", "source_path", "params_schema",
                    "input_schema", "default_params", "profiles",
                )  # fmt: skip
                await versions.update(existing, {name: getattr(built, name) for name in fields})
            synced.append(f"{entry.slug}@{built.version}")
    logger.info("catalog synced", path=str(path), versions=synced)
    return synced
