from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, and_, or_, select

from nfhub_compute.models import PipelineSecret
from nfhub_shared.db.repository import Repository


def in_scope(org_id: uuid.UUID, project_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The org's own secrets (project_id None), or one project's."""
    if project_id is None:
        return and_(PipelineSecret.org_id == org_id, PipelineSecret.project_id.is_(None))
    return and_(PipelineSecret.org_id == org_id, PipelineSecret.project_id == project_id)


def visible_to(org_id: uuid.UUID, project_id: uuid.UUID) -> ColumnElement[bool]:
    """What a project's runs can use: the org's secrets and the project's own."""
    return and_(
        PipelineSecret.org_id == org_id,
        or_(PipelineSecret.project_id.is_(None), PipelineSecret.project_id == project_id),
    )


class SecretRepository(Repository[PipelineSecret]):
    model = PipelineSecret

    async def get_named(
        self,
        org_id: uuid.UUID,
        project_id: uuid.UUID | None,
        name: str,
        *,
        for_update: bool = False,
    ) -> PipelineSecret | None:
        statement = select(PipelineSecret).where(
            in_scope(org_id, project_id), PipelineSecret.name == name
        )
        if for_update:
            statement = statement.with_for_update()
        return await self.session.scalar(statement)

    async def list_visible(
        self,
        org_id: uuid.UUID,
        project_id: uuid.UUID,
        *,
        project_only: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[PipelineSecret], int]:
        """A page of the org's and the project's secrets, by name (the project's first)."""
        if project_only is None:
            where = visible_to(org_id, project_id)
        else:
            where = in_scope(org_id, project_id if project_only else None)
        statement = (
            select(PipelineSecret)
            .where(where)
            .order_by(
                PipelineSecret.name,
                PipelineSecret.project_id.is_(None),
                PipelineSecret.id,
            )
        )
        return await self.paginate(statement, limit=limit, offset=offset)

    async def names_in_project(
        self, org_id: uuid.UUID, project_id: uuid.UUID, names: Collection[str]
    ) -> set[str]:
        """Which of ``names`` the project has a secret of its own for."""
        if not names:
            return set()
        found = await self.session.scalars(
            select(PipelineSecret.name).where(
                in_scope(org_id, project_id), PipelineSecret.name.in_(list(names))
            )
        )
        return set(found)

    async def visible_named(
        self, org_id: uuid.UUID, project_id: uuid.UUID, names: Collection[str]
    ) -> Sequence[PipelineSecret]:
        """The org's and the project's secrets of these names (both, when both exist)."""
        if not names:
            return []
        rows = await self.session.scalars(
            select(PipelineSecret).where(
                visible_to(org_id, project_id), PipelineSecret.name.in_(list(names))
            )
        )
        return rows.all()

    async def all_for_update(
        self, *, batch: int, after: uuid.UUID | None
    ) -> Sequence[PipelineSecret]:
        """A batch of every secret (by id, locked): the key rotation walks them all."""
        statement = select(PipelineSecret).order_by(PipelineSecret.id).limit(batch)
        if after is not None:
            statement = statement.where(PipelineSecret.id > after)
        return (await self.session.scalars(statement.with_for_update())).all()
