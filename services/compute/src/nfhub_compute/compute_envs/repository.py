from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update

from nfhub_compute.models import LIVE_STATES, ComputeEnv, Run
from nfhub_shared.db.repository import Repository


class ComputeEnvRepository(Repository[ComputeEnv]):
    model = ComputeEnv

    async def get_in_org(
        self,
        org_id: uuid.UUID,
        env_id: uuid.UUID,
        *,
        for_update: bool = False,
        for_share: bool = False,
    ) -> ComputeEnv | None:
        """``for_share``: a launch's lock, which a delete (FOR UPDATE) waits for, so the delete
        then counts the launched run."""
        statement = select(ComputeEnv).where(ComputeEnv.id == env_id, ComputeEnv.org_id == org_id)
        if for_update:
            statement = statement.with_for_update()
        elif for_share:
            statement = statement.with_for_update(read=True)
        return await self.session.scalar(statement)

    async def get_by_name(self, org_id: uuid.UUID, name: str) -> ComputeEnv | None:
        return await self.session.scalar(
            select(ComputeEnv).where(ComputeEnv.org_id == org_id, ComputeEnv.name == name)
        )

    async def primary(self, org_id: uuid.UUID, *, for_share: bool = False) -> ComputeEnv | None:
        statement = select(ComputeEnv).where(ComputeEnv.org_id == org_id, ComputeEnv.is_primary)
        if for_share:
            statement = statement.with_for_update(read=True)
        return await self.session.scalar(statement)

    async def list_in_org(
        self, org_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[Sequence[ComputeEnv], int]:
        statement = (
            select(ComputeEnv)
            .where(ComputeEnv.org_id == org_id)
            .order_by(ComputeEnv.is_primary.desc(), ComputeEnv.name)
        )
        return await self.paginate(statement, limit=limit, offset=offset)

    async def by_ids(self, env_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ComputeEnv]:
        if not env_ids:
            return {}
        rows = await self.session.scalars(select(ComputeEnv).where(ComputeEnv.id.in_(env_ids)))
        return {env.id: env for env in rows}

    async def all(self) -> Sequence[ComputeEnv]:
        """Every environment (the reconciler asks each backend for its jobs)."""
        return (await self.session.scalars(select(ComputeEnv).order_by(ComputeEnv.id))).all()

    async def clear_primary(self, org_id: uuid.UUID) -> None:
        await self.session.execute(
            update(ComputeEnv)
            .where(ComputeEnv.org_id == org_id, ComputeEnv.is_primary)
            .values(is_primary=False, updated_at=func.now())
        )

    async def count_live_runs(self, env_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(Run)
                .where(Run.compute_env_id == env_id, Run.state.in_((*LIVE_STATES, "QUEUED")))
            )
            or 0
        )
