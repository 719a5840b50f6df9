"""One transaction per request, committed before the response is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_shared.state import ServiceState

# Services hold the request's unit of work and hand it to repositories; they build no SQL, so
# they take the session's type from here rather than from SQLAlchemy (a lint contract).
__all__ = ["AsyncSession", "AsyncSessionDep", "get_session", "get_sessionmaker"]


def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return ServiceState.of(request.app).sessionmaker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Yield the request's session; commit when the endpoint returned, roll back when it raised.

    Used with ``scope="function"`` so the commit happens before the response goes out: a commit
    that fails turns into an error response instead of a 2xx for a change that was lost.
    """
    async with get_sessionmaker(request)() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


AsyncSessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
