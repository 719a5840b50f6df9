"""OpenID Connect login through web: web sends the browser to admin, admin to the provider
(oidc-provider-mock, a real provider on a local port) and back to web's landing page with the
tokens in the URL fragment; the page's script posts the refresh token, which web exchanges at
once for a pair that stays server-side."""

from __future__ import annotations

import re
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug.serving import BaseWSGIServer

from nfhub_admin.config import OidcProviderSettings
from nfhub_web.models import WebSession
from support.web import LOGIN_TOKEN, WEB_BASE_URL, admin_only

with warnings.catch_warnings():
    # As in tests/admin/auth/test_oidc.py: oidc-provider-mock imports deprecated authlib parts.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings(
        "ignore", "authlib.jose module is deprecated", AuthlibDeprecationWarning
    )
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    import oidc_provider_mock

pytestmark = pytest.mark.filterwarnings(
    r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning"
)


@pytest.fixture
def web_routes(admin_transport: httpx.ASGITransport) -> dict[str, httpx.AsyncBaseTransport]:
    """Its pages call admin alone."""
    return admin_only(admin_transport)


ADMIN_BASE_URL = "http://admin.test"
ALICE = oidc_provider_mock.User(
    sub="alice-at-mock",
    claims={
        "email": "alice@example.org",
        "email_verified": True,
        "name": "Alice Liddell",
        "preferred_username": "alice",
    },
)


@pytest.fixture
def provider() -> Iterator[BaseWSGIServer]:
    with oidc_provider_mock.run_server_in_thread(
        port=0, require_nonce=True, user_claims=[ALICE]
    ) as server:
        yield server


@pytest.fixture
def admin_settings(admin_settings: Any, provider: BaseWSGIServer) -> Any:
    """admin with the mock provider, handing logins back to web."""
    return admin_settings.model_copy(
        update={
            "PUBLIC_URL": AnyHttpUrl(ADMIN_BASE_URL),
            "FRONTEND_URL": AnyHttpUrl(WEB_BASE_URL),
            "OIDC_PROVIDERS": [
                OidcProviderSettings(
                    name="mock",
                    display_name="Mock provider",
                    issuer=AnyHttpUrl(f"http://localhost:{provider.server_port}"),
                    client_id="nfhub-test",
                    client_secret=SecretStr("nfhub-test-secret"),
                )
            ],
        }
    )


@pytest_asyncio.fixture
async def at_provider() -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser at the provider: real HTTP, redirects looked at, not followed."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as client:
        yield client


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def through_provider(
    browser: httpx.AsyncClient, admin_client: httpx.AsyncClient, at_provider: httpx.AsyncClient
) -> str:
    """From web's login button to the URL admin's callback sends the browser to."""
    login = await browser.get("/login")
    assert 'href="/login/oidc/mock?next=/runs"' in login.text
    assert "Mock provider" in login.text
    to_admin = await browser.get("/login/oidc/mock", params={"next": "/runs"})
    assert to_admin.status_code == 303
    assert to_admin.headers["location"].startswith(f"{ADMIN_BASE_URL}/api/v1/auth/oidc/mock/")
    to_provider = await admin_client.get(path_of(to_admin.headers["location"]))
    assert to_provider.status_code == 302, to_provider.text
    authorize = to_provider.headers["location"]
    assert (await at_provider.get(authorize)).status_code == 200
    picked = await at_provider.post(authorize, data={"sub": ALICE.sub})
    assert picked.status_code == 302, picked.text
    back = await admin_client.get(path_of(picked.headers["location"]))
    assert back.status_code == 302, back.text
    landing: str = back.headers["location"]
    return landing


class TestOidcLogin:
    async def test_the_handed_tokens_are_exchanged_for_a_server_side_session(
        self,
        browser: httpx.AsyncClient,
        admin_client: httpx.AsyncClient,
        at_provider: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        landing = await through_provider(browser, admin_client, at_provider)
        url, _, fragment = landing.partition("#")
        assert url == f"{WEB_BASE_URL}/login/oidc/done?next=%2Fruns"
        handed = {key: values[0] for key, values in parse_qs(fragment).items()}

        # The browser sends no fragment: the page alone, its script to finish the login.
        page = await browser.get(path_of(url))
        assert page.status_code == 200
        assert '<script src="/static/oidc.js" defer></script>' in page.text
        assert handed["refresh_token"] not in page.text
        token = LOGIN_TOKEN.search(page.text)
        assert token is not None
        done = await browser.post(
            "/login/oidc/done",
            data={
                "login_token": token.group(1),
                "refresh_token": handed["refresh_token"],
                "next": "/runs",
            },
        )

        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/runs"
        async with session_factory() as db:
            (row,) = list(await db.scalars(select(WebSession)))
        assert row.username == "alice"
        assert (await browser.get("/context")).status_code == 200
        # What passed through the browser no longer works; replayed (by whoever copied it),
        # admin takes it for stolen and ends the login, the web session with it.
        reused = await admin_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": handed["refresh_token"]}
        )
        assert reused.status_code == 401
        ended = await browser.get("/context")
        assert ended.status_code == 303
        assert ended.headers["location"].startswith("/login")
        assert (await browser.get("/login")).status_code == 200  # not back to /context
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []

    async def test_a_landing_without_a_live_login_makes_no_session(
        self,
        browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        page = await browser.get("/login/oidc/done")
        token = LOGIN_TOKEN.search(page.text)
        assert token is not None

        forged = await browser.post(
            "/login/oidc/done",
            data={"login_token": token.group(1), "refresh_token": "not-a-refresh-token"},
        )
        unsigned = await browser.post(
            "/login/oidc/done", data={"refresh_token": "not-a-refresh-token"}
        )

        assert forged.status_code == 401
        assert unsigned.status_code == 403
        for response in (forged, unsigned):
            assert re.search(r'role="alert"', response.text)
            assert "nfhub_session" not in response.headers.get("set-cookie", "")
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []

    async def test_a_provider_name_that_cannot_be_one_is_a_404_page(
        self, browser: httpx.AsyncClient
    ) -> None:
        response = await browser.get("/login/oidc/Not_A_Provider")

        assert response.status_code == 404
