"""A second service built only from the shared library, asking the in-process admin over HTTP."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

import nfhub_shared.auth.identity as identity_module
from nfhub_shared.app import create_app
from nfhub_shared.auth.dependencies import ProjectEditor, ProjectViewer
from nfhub_shared.auth.tokens import JwksCache
from nfhub_shared.cache import ExpiringCache
from nfhub_shared.config import BaseServiceSettings
from support.clock import FakeClock

probe_router = APIRouter(prefix="/probe", tags=["probe"])


@probe_router.get("/role")
async def get_role(access: ProjectViewer) -> dict[str, str]:
    """The caller's role in the X-Project-ID project."""
    return {
        "role": access.role.value,
        "subject": access.principal.subject,
        "kind": access.principal.kind,
    }


@probe_router.post("/edit")
async def edit_project(access: ProjectEditor) -> dict[str, str]:
    """Something only editors may do."""
    return {"role": access.role.value}


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and remembers the path of each, to count calls to admin."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    def count(self, path: str) -> int:
        return self.paths.count(path)


@dataclass
class Probe:
    app: FastAPI
    client: httpx.AsyncClient
    admin_calls: RecordingTransport | None = None
    settings: BaseServiceSettings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = self.app.state.settings

    @property
    def jwks_fetches(self) -> int:
        assert self.admin_calls is not None
        return self.admin_calls.count("/.well-known/jwks.json")

    @property
    def introspections(self) -> int:
        assert self.admin_calls is not None
        return self.admin_calls.count("/api/v1/internal/introspect")


ProbeFactory = Callable[..., AbstractAsyncContextManager[Probe]]


def probe_settings(database_url: str, **overrides: Any) -> BaseServiceSettings:
    values: dict[str, Any] = {
        "SERVICE_NAME": "probe",
        "ENVIRONMENT": "test",
        "ADMIN_URL": "http://admin.test",
        "DATABASE_URL": database_url,
        "DATABASE_POOL_SIZE": 1,
        "DATABASE_MAX_OVERFLOW": 0,
        # The TTL tests show the fallback bound; test_revocations turns the listener on.
        "ACCESS_CHANGE_LISTENER": False,
        **overrides,
    }
    return BaseServiceSettings(_env_file=None, **values)


@pytest.fixture
def make_probe(nfhub_database_url: str, admin_transport: httpx.ASGITransport) -> ProbeFactory:
    """Start a probe service (lifespan included); by default its calls to admin are recorded."""

    @asynccontextmanager
    async def build(
        *, transport: httpx.AsyncBaseTransport | None = None, **overrides: Any
    ) -> AsyncIterator[Probe]:
        recorder = RecordingTransport(admin_transport) if transport is None else None
        app = create_app(
            probe_settings(nfhub_database_url, **overrides),
            title="probe",
            description="A service that uses only nfhub_shared",
            routers=[probe_router],
            http_transport=recorder or transport,
        )
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://probe.test"
            ) as client,
        ):
            yield Probe(app, client, recorder)

    return build


@pytest.fixture
async def probe(make_probe: ProbeFactory) -> AsyncIterator[Probe]:
    async with make_probe() as built:
        yield built


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """Every cache (TTLs) and JWKS cache (refetch cooldown) a probe's RemoteIdentity creates
    from now on runs on this clock."""
    fake = FakeClock()
    monkeypatch.setattr(
        identity_module, "ExpiringCache", functools.partial(ExpiringCache, clock=fake)
    )
    monkeypatch.setattr(identity_module, "JwksCache", functools.partial(JwksCache, clock=fake))
    return fake
