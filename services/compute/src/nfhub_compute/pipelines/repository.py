from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, case, func, or_, select, text
from sqlalchemy.orm import aliased

from nfhub_compute.models import Pipeline, PipelineVersion
from nfhub_shared.db.repository import Repository


def visible_to(org_id: uuid.UUID) -> ColumnElement[bool]:
    """Pipelines an org's projects may see: its own, and every public one (catalog included)."""
    return or_(Pipeline.org_id == org_id, Pipeline.visibility == "public")


def _own_first(org_id: uuid.UUID | None) -> ColumnElement[int]:
    """Own org's pipeline before the catalog's before another org's public one."""
    return case((Pipeline.org_id == org_id, 0), (Pipeline.org_id.is_(None), 1), else_=2)


class PipelineRepository(Repository[Pipeline]):
    model = Pipeline

    async def lock_catalog(self) -> None:
        """Serialise catalog syncs of replicas starting together (until the transaction ends)."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('nfhub.compute.catalog'))")
        )

    async def get_visible(self, org_id: uuid.UUID, pipeline_id: uuid.UUID) -> Pipeline | None:
        return await self.session.scalar(
            select(Pipeline).where(Pipeline.id == pipeline_id, visible_to(org_id))
        )

    async def get_visible_by_slug(self, org_id: uuid.UUID, slug: str) -> Pipeline | None:
        return await self.session.scalar(
            select(Pipeline)
            .where(Pipeline.slug == slug, visible_to(org_id))
            .order_by(_own_first(org_id), Pipeline.created_at)
            .limit(1)
        )

    async def lock_slug(self, slug: str) -> None:
        """Serialise the slug check and the write of one slug (until the transaction ends):
        two orgs taking the same slug at once must not both pass the check."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext('nfhub.compute.pipeline-slug:' || :slug))"),
            {"slug": slug},
        )

    async def get_clashing(
        self,
        slug: str,
        org_id: uuid.UUID | None,
        *,
        public: bool,
        exclude: uuid.UUID | None = None,
    ) -> Pipeline | None:
        """Another pipeline an org would see under this slug beside a pipeline of ``org_id``
        (of any org when that one is public): the pipeline that keeps the slug unambiguous."""
        statement = select(Pipeline).where(Pipeline.slug == slug)
        if not public:
            assert org_id is not None  # the catalog's pipelines are public
            statement = statement.where(visible_to(org_id))
        if exclude is not None:
            statement = statement.where(Pipeline.id != exclude)
        return await self.session.scalar(
            statement.order_by(_own_first(org_id), Pipeline.created_at).limit(1)
        )

    async def get_owned_by_slug(self, org_id: uuid.UUID | None, slug: str) -> Pipeline | None:
        owner = Pipeline.org_id.is_(None) if org_id is None else Pipeline.org_id == org_id
        return await self.session.scalar(select(Pipeline).where(owner, Pipeline.slug == slug))

    async def list_visible(
        self,
        org_id: uuid.UUID,
        *,
        visibility: str | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Pipeline], int]:
        statement = select(Pipeline).where(visible_to(org_id))
        if visibility is not None:
            statement = statement.where(Pipeline.visibility == visibility)
        statement = statement.order_by(Pipeline.slug, _own_first(org_id), Pipeline.id)
        return await self.paginate(statement, limit=limit, offset=offset)


class PipelineVersionRepository(Repository[PipelineVersion]):
    model = PipelineVersion

    async def get_version(self, pipeline_id: uuid.UUID, version: str) -> PipelineVersion | None:
        return await self.session.scalar(
            select(PipelineVersion).where(
                PipelineVersion.pipeline_id == pipeline_id, PipelineVersion.version == version
            )
        )

    async def latest(self, pipeline_id: uuid.UUID) -> PipelineVersion | None:
        return await self.session.scalar(
            select(PipelineVersion)
            .where(
                PipelineVersion.pipeline_id == pipeline_id,
                PipelineVersion.deprecated_at.is_(None),
            )
            .order_by(PipelineVersion.created_at.desc(), PipelineVersion.id.desc())
            .limit(1)
        )

    async def latest_of_each(
        self, pipeline_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, PipelineVersion]:
        """The newest non-deprecated version of each pipeline, in one query (no N+1)."""
        if not pipeline_ids:
            return {}
        ranked = (
            select(
                PipelineVersion,
                func.row_number()
                .over(
                    partition_by=PipelineVersion.pipeline_id,
                    order_by=(PipelineVersion.created_at.desc(), PipelineVersion.id.desc()),
                )
                .label("rank"),
            )
            .where(
                PipelineVersion.pipeline_id.in_(pipeline_ids),
                PipelineVersion.deprecated_at.is_(None),
            )
            .subquery()
        )
        newest = aliased(PipelineVersion, ranked)
        rows = await self.session.scalars(select(newest).where(ranked.c.rank == 1))
        return {version.pipeline_id: version for version in rows}

    async def list_for(
        self, pipeline_id: uuid.UUID, *, include_deprecated: bool, limit: int, offset: int
    ) -> tuple[Sequence[PipelineVersion], int]:
        statement = select(PipelineVersion).where(PipelineVersion.pipeline_id == pipeline_id)
        if not include_deprecated:
            statement = statement.where(PipelineVersion.deprecated_at.is_(None))
        statement = statement.order_by(PipelineVersion.created_at.desc(), PipelineVersion.id.desc())
        return await self.paginate(statement, limit=limit, offset=offset)
