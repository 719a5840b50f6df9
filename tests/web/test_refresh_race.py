"""Several requests of one session find its access token expired at the same moment: one
refresh reaches admin, the others wait for it and use its result. (admin takes a refresh token
used twice for a stolen one and ends the login, so two refreshes would log the user out.)

web's sessions live in a committed database of their own here, so each request has its own
connection and PostgreSQL's row lock is what orders them; admin runs in-process as usual.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from nfhub_shared.config import normalise_database_url
from nfhub_shared.db.base import utcnow
from nfhub_shared.sealing import KeyRing
from nfhub_web.apis import Apis
from nfhub_web.config import DEV_SESSION_KEY
from nfhub_web.models import WebSession
from nfhub_web.sessions.service import ActiveSession, SessionService, SessionSettings

SETTINGS = SessionSettings(idle=timedelta(hours=1), refresh_margin=timedelta(seconds=30))
REQUESTS = 5


class CountingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.refreshes = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/auth/refresh":
            self.refreshes += 1
        return await self.inner.handle_async_request(request)


@pytest_asyncio.fixture
async def sessions_engine(nfhub_fresh_database: Any) -> AsyncIterator[AsyncEngine]:
    with nfhub_fresh_database() as url:
        engine = create_async_engine(normalise_database_url(url), pool_size=REQUESTS + 1)
        yield engine
        await engine.dispose()


async def test_concurrent_requests_refresh_once(
    sessions_engine: AsyncEngine, admin_app: FastAPI, factory: Any
) -> None:
    user = await factory.user()
    transport = CountingTransport(httpx.ASGITransport(app=admin_app))
    sessions = async_sessionmaker(sessions_engine, expire_on_commit=False)
    keys = KeyRing(DEV_SESSION_KEY)
    async with httpx.AsyncClient(transport=transport) as http:
        apis = Apis(http, {"admin": "http://admin.test"}, 10.0)  # type: ignore[dict-item]
        async with sessions() as db, db.begin():
            secret, started = await SessionService(db, keys, apis, SETTINGS).log_in(
                user.username, user.password
            )
        async with sessions() as db, db.begin():
            await db.execute(
                update(WebSession).values(access_expires_at=utcnow() - timedelta(seconds=1))
            )

        async def one_request() -> ActiveSession | None:
            async with sessions() as db, db.begin():
                return await SessionService(db, keys, apis, SETTINGS).resolve(secret)

        resolved = await asyncio.gather(*(one_request() for _ in range(REQUESTS)))

    assert transport.refreshes == 1
    assert all(session is not None for session in resolved)
    tokens = {session.access_token for session in resolved if session is not None}
    assert len(tokens) == 1
    assert tokens != {started.access_token}
