"""Base repository: the only place that builds SQL statements."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Row, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_shared.db.base import ServiceBase

ModelT = TypeVar("ModelT", bound=ServiceBase)


async def fetch_page(
    session: AsyncSession, statement: Select[*tuple[Any, ...]], *, limit: int, offset: int
) -> tuple[Sequence[Row[*tuple[Any, ...]]], int]:
    """One page of rows of an ordered multi-column select, and the total count without paging."""
    count_statement = select(func.count()).select_from(statement.order_by(None).subquery())
    total = (await session.execute(count_statement)).scalar_one()
    rows = (await session.execute(statement.limit(limit).offset(offset))).all()
    return rows, total


class Repository(Generic[ModelT]):
    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, record_id: uuid.UUID) -> ModelT | None:
        return await self.session.get(self.model, record_id)

    async def add(self, record: ModelT) -> ModelT:
        self.session.add(record)
        await self.session.flush()
        return record

    async def delete(self, record: ModelT) -> None:
        await self.session.delete(record)
        await self.session.flush()

    async def update(self, record: ModelT, values: dict[str, Any]) -> ModelT:
        for key, value in values.items():
            setattr(record, key, value)
        await self.session.flush()
        return record

    async def paginate(
        self, statement: Select[Any], *, limit: int, offset: int
    ) -> tuple[Sequence[ModelT], int]:
        """One page of rows plus the total count of the filtered statement."""
        count_statement = select(func.count()).select_from(statement.order_by(None).subquery())
        total = (await self.session.execute(count_statement)).scalar_one()
        rows: Sequence[ModelT] = (
            await self.session.scalars(statement.limit(limit).offset(offset))
        ).all()
        return rows, total
