"""Extra admin instances with their own settings, sharing the test transaction and signing key."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.main import create_app

AdminFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_admin(
    admin_app: FastAPI,
    admin_settings: Any,
    session_factory: async_sessionmaker[AsyncSession],
) -> AdminFactory:
    """Another admin app with ``updates`` to its settings, started like the plugin's admin_app.

    It signs with the same key as ``admin_app``, so ``factory`` users' tokens work there too.
    """
    pem = admin_app.state.signing_keys.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    @asynccontextmanager
    async def build(**updates: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = admin_settings.model_copy(
            update={"JWT_PRIVATE_KEY": SecretStr(pem.decode()), **updates}
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            app.state.sessionmaker = session_factory
            assert app.state.signing_keys.kid == admin_app.state.signing_keys.kid
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://admin.test"
            ) as client:
                yield client

    return build
