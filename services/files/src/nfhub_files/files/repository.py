from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession


class LockRepository:
    """Transaction-scoped advisory locks on object keys: concurrent moves of one file queue up."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_keys(self, *keys: str) -> None:
        # Sorted, so two requests locking the same pair never wait on each other in a cycle.
        for key in sorted(set(keys)):
            await self.session.execute(
                select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0)))
            )
