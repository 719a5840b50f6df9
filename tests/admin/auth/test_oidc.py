"""OpenID Connect login end to end against a real provider (oidc-provider-mock) over HTTP.

admin runs in-process (ASGI); the provider runs in a werkzeug thread on a local port, so admin's
discovery, token and JWKS calls are real HTTP. The test plays the browser: it follows admin's
redirect to the provider, picks an account there and brings the provider's redirect back.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import time
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import pytest_asyncio
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from werkzeug.serving import BaseWSGIServer

from nfhub_admin.config import OidcProviderSettings, Settings
from nfhub_admin.main import create_app
from nfhub_admin.models import OidcIdentity, OidcLoginAttempt, User
from nfhub_shared.auth.tokens import hash_token
from nfhub_shared.errors import PROBLEM_JSON
from support.factory import Factory

with warnings.catch_warnings():
    # oidc-provider-mock 0.3.4 imports authlib.jose and authlib's httpx client, both deprecated
    # by authlib at import time. authlib.deprecate puts an "always" filter in front when first
    # imported, so it is imported first and these two filters go in front of it.
    from authlib.deprecate import AuthlibDeprecationWarning

    warnings.filterwarnings(
        "ignore", "authlib.jose module is deprecated", AuthlibDeprecationWarning
    )
    warnings.filterwarnings("ignore", "The httpx module is deprecated", AuthlibDeprecationWarning)
    import oidc_provider_mock

# The mock overrides authlib's deprecated OpenIDCode.get_jwt_config, so authlib warns on every
# token request. The warning is raised in the provider's thread, where the suite's global
# "error" filter would turn it into a 500 from the provider's token endpoint.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:get_jwt_config\(self, grant\) is deprecated:DeprecationWarning"
)

ADMIN_BASE_URL = "http://admin.test"
FRONTEND_URL = "http://frontend.test"
LOGIN_PATH = "/api/v1/auth/oidc/mock/login"
CALLBACK_PATH = "/api/v1/auth/oidc/mock/callback"

ALICE = oidc_provider_mock.User(
    sub="alice-at-mock",
    claims={
        "email": "alice@example.org",
        "email_verified": True,
        "name": "Alice Liddell",
        "preferred_username": "alice",
    },
)


def mock_provider_settings(issuer: str) -> OidcProviderSettings:
    return OidcProviderSettings(
        name="mock",
        display_name="Mock",
        issuer=AnyHttpUrl(issuer),
        client_id="nfhub-test",
        client_secret=SecretStr("nfhub-test-secret"),
    )


def with_provider(settings: Settings, issuer: str, **update: Any) -> Settings:
    return settings.model_copy(
        update={
            "PUBLIC_URL": AnyHttpUrl(ADMIN_BASE_URL),
            "OIDC_PROVIDERS": [mock_provider_settings(issuer)],
            **update,
        }
    )


@asynccontextmanager
async def running_admin(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """admin with these settings, every request inside the test's transaction."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = sessionmaker
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ADMIN_BASE_URL) as client:
            yield client


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def provider() -> Iterator[BaseWSGIServer]:
    with oidc_provider_mock.run_server_in_thread(
        port=0, require_nonce=True, user_claims=[ALICE]
    ) as server:
        yield server


@pytest.fixture
def issuer(provider: BaseWSGIServer) -> str:
    return f"http://localhost:{provider.server_port}"


@pytest_asyncio.fixture
async def client(
    admin_settings: Settings, issuer: str, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_admin(with_provider(admin_settings, issuer), session_factory) as client:
        yield client


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    """The user's browser at the provider: real HTTP, redirects looked at, not followed."""
    async with httpx.AsyncClient(follow_redirects=False, timeout=10.0) as browser:
        yield browser


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def replace_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    return parts._replace(query=urlencode({**query_of(url), **params})).geturl()


async def start_login(client: httpx.AsyncClient, **params: str) -> str:
    """GET admin's login endpoint; returns the provider authorization URL it redirects to."""
    response = await client.get(LOGIN_PATH, params=params)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def pick_account(browser: httpx.AsyncClient, authorize_url: str, sub: str) -> str:
    """Submit the provider's login form; returns the provider's redirect to admin's callback."""
    form = await browser.get(authorize_url)
    assert form.status_code == 200, form.text
    response = await browser.post(authorize_url, data={"sub": sub})
    assert response.status_code == 302, response.text
    callback_url = response.headers["location"]
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == ADMIN_BASE_URL + CALLBACK_PATH
    return callback_url


async def follow_callback(client: httpx.AsyncClient, callback_url: str) -> httpx.Response:
    """The browser landing on admin's callback (the ASGI client stands in for admin's host)."""
    parts = urlsplit(callback_url)
    return await client.get(f"{parts.path}?{parts.query}")


async def log_in(client: httpx.AsyncClient, browser: httpx.AsyncClient, sub: str) -> httpx.Response:
    authorize_url = await start_login(client)
    return await follow_callback(client, await pick_account(browser, authorize_url, sub))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["error_id"]
    return body


async def identities_for(
    sessionmaker: async_sessionmaker[AsyncSession], sub: str
) -> list[OidcIdentity]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OidcIdentity).where(OidcIdentity.provider == "mock", OidcIdentity.subject == sub)
        )
        return list(rows)


async def count_users(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


class TestListLoginProviders:
    async def test_lists_password_and_configured_provider(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/auth/providers")

        assert response.status_code == 200, response.text
        assert response.json()["providers"] == [
            {
                "name": "password",
                "display_name": "Username and password",
                "kind": "password",
                "login_url": "/api/v1/auth/login",
            },
            {
                "name": "mock",
                "display_name": "Mock",
                "kind": "oidc",
                "login_url": LOGIN_PATH,
            },
        ]


class TestOidcLogin:
    async def test_redirects_to_provider_with_pkce_state_and_nonce(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        issuer: str,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        discovery = (await browser.get(f"{issuer}/.well-known/openid-configuration")).json()

        authorize_url = await start_login(client)

        parts = urlsplit(authorize_url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == discovery["authorization_endpoint"]
        params = query_of(authorize_url)
        assert params["response_type"] == "code"
        assert params["client_id"] == "nfhub-test"
        assert params["redirect_uri"] == ADMIN_BASE_URL + CALLBACK_PATH
        assert params["scope"] == "openid email profile"
        assert params["code_challenge_method"] == "S256"
        assert len(params["state"]) >= 32
        assert len(params["nonce"]) >= 32
        # The mock does not check PKCE, so check here that the challenge is S256 of the verifier.
        async with session_factory() as session:
            attempt = await session.scalar(
                select(OidcLoginAttempt).where(
                    OidcLoginAttempt.state_hash == hash_token(params["state"])
                )
            )
        assert attempt is not None
        assert attempt.nonce == params["nonce"]
        digest = hashlib.sha256(attempt.code_verifier.encode()).digest()
        assert params["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def test_unknown_provider(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/auth/oidc/nope/login")

        assert_problem(response, 404)


class TestOidcCallback:
    async def test_full_login_returns_tokens_for_a_new_user(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await log_in(client, browser, ALICE.sub)

        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "bearer"
        assert tokens["refresh_token"]
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "alice"
        assert me.json()["email"] == "alice@example.org"
        assert me.json()["display_name"] == "Alice Liddell"
        [identity] = await identities_for(session_factory, ALICE.sub)
        assert str(identity.user_id) == me.json()["id"]
        assert identity.email == "alice@example.org"

    async def test_second_login_with_same_subject_is_the_same_user(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        first = await log_in(client, browser, ALICE.sub)
        assert first.status_code == 200, first.text
        users_after_first = await count_users(session_factory)

        second = await log_in(client, browser, ALICE.sub)

        assert second.status_code == 200, second.text
        assert second.json()["access_token"] != first.json()["access_token"]
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {second.json()['access_token']}"}
        )
        [identity] = await identities_for(session_factory, ALICE.sub)
        assert me.json()["id"] == str(identity.user_id)
        assert await count_users(session_factory) == users_after_first

    async def test_verified_email_links_existing_account(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        factory: Factory,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        existing = await factory.user("alice-liddell", email="alice@example.org")

        response = await log_in(client, browser, ALICE.sub)

        assert response.status_code == 200, response.text
        [identity] = await identities_for(session_factory, ALICE.sub)
        assert identity.user_id == existing.id

    async def test_unverified_email_does_not_link_existing_account(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        factory: Factory,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        # The mock makes unknown subjects up with {"email": sub} and no email_verified.
        existing = await factory.user("mallory-target", email="victim@example.org")

        response = await log_in(client, browser, "victim@example.org")

        assert response.status_code == 200, response.text
        [identity] = await identities_for(session_factory, "victim@example.org")
        assert identity.user_id != existing.id

    async def test_unknown_state(self, client: httpx.AsyncClient) -> None:
        response = await client.get(CALLBACK_PATH, params={"code": "x", "state": "never-issued"})

        body = assert_problem(response, 400)
        assert "start the login again" in body["detail"]

    async def test_missing_state(self, client: httpx.AsyncClient) -> None:
        response = await client.get(CALLBACK_PATH, params={"code": "x"})

        assert_problem(response, 400)

    async def test_state_used_twice(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        authorize_url = await start_login(client)
        callback_url = await pick_account(browser, authorize_url, ALICE.sub)
        first = await follow_callback(client, callback_url)
        assert first.status_code == 200, first.text

        second = await follow_callback(client, callback_url)

        assert_problem(second, 400)

    async def test_state_of_a_refused_login_cannot_be_used_again(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        authorize_url = await start_login(client)
        state = query_of(authorize_url)["state"]
        refused = await client.get(CALLBACK_PATH, params={"error": "access_denied", "state": state})
        assert_problem(refused, 401)

        # The same state carried by a real code: the first callback already used it up.
        replay = await follow_callback(
            client, await pick_account(browser, authorize_url, ALICE.sub)
        )

        assert_problem(replay, 400)

    async def test_expired_attempt(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        authorize_url = await start_login(client)
        callback_url = await pick_account(browser, authorize_url, ALICE.sub)
        async with session_factory() as session, session.begin():
            await session.execute(
                update(OidcLoginAttempt)
                .where(OidcLoginAttempt.state_hash == hash_token(query_of(authorize_url)["state"]))
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )

        response = await follow_callback(client, callback_url)

        assert_problem(response, 400)

    async def test_nonce_changed_on_the_way_to_the_provider(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        authorize_url = await start_login(client)
        # The mock stores the request's nonce with the code and puts it in the id_token, so
        # the id_token carries this nonce instead of the one admin keeps for the state.
        tampered = replace_query(authorize_url, nonce="not-the-nonce-admin-sent")

        response = await follow_callback(client, await pick_account(browser, tampered, ALICE.sub))

        body = assert_problem(response, 401)
        assert "nonce" in body["detail"]

    async def test_code_from_another_login(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        # The mock ignores PKCE, so the provider accepts the swapped code; the id_token's
        # nonce (bound to the other login) is what must refuse it.
        victim_url = await start_login(client)
        attacker_url = await start_login(client)
        attacker_code = query_of(await pick_account(browser, attacker_url, "mallory"))["code"]
        victim_state = query_of(victim_url)["state"]

        response = await client.get(
            CALLBACK_PATH, params={"code": attacker_code, "state": victim_state}
        )

        body = assert_problem(response, 401)
        assert "nonce" in body["detail"]

    async def test_provider_error(self, client: httpx.AsyncClient) -> None:
        state = query_of(await start_login(client))["state"]

        response = await client.get(
            CALLBACK_PATH, params={"error": "access_denied", "state": state}
        )

        body = assert_problem(response, 401)
        assert "access_denied" in body["detail"]

    async def test_unknown_provider(self, client: httpx.AsyncClient) -> None:
        response = await client.get(
            "/api/v1/auth/oidc/nope/callback", params={"code": "x", "state": "y"}
        )

        assert_problem(response, 404)

    async def test_missing_code(self, client: httpx.AsyncClient) -> None:
        state = query_of(await start_login(client))["state"]

        response = await client.get(CALLBACK_PATH, params={"state": state})

        assert_problem(response, 400)


class TestOidcCallbackToFrontend:
    @pytest_asyncio.fixture
    async def client(
        self,
        admin_settings: Settings,
        issuer: str,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> AsyncIterator[httpx.AsyncClient]:
        settings = with_provider(admin_settings, issuer, FRONTEND_URL=AnyHttpUrl(FRONTEND_URL))
        async with running_admin(settings, session_factory) as client:
            yield client

    async def test_redirects_with_tokens_in_the_fragment(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        authorize_url = await start_login(client, redirect_to="/projects/42")

        response = await follow_callback(client, await pick_account(browser, authorize_url, "bob"))

        assert response.status_code == 302, response.text
        target = urlsplit(response.headers["location"])
        assert f"{target.scheme}://{target.netloc}{target.path}" == f"{FRONTEND_URL}/projects/42"
        assert target.query == ""
        fragment = {key: values[0] for key, values in parse_qs(target.fragment).items()}
        assert fragment["token_type"] == "bearer"
        assert fragment["refresh_token"]
        me = await client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {fragment['access_token']}"}
        )
        assert me.status_code == 200, me.text

    async def test_absolute_redirect_to_is_ignored(
        self, client: httpx.AsyncClient, browser: httpx.AsyncClient
    ) -> None:
        authorize_url = await start_login(client, redirect_to="https://evil.example/steal")

        response = await follow_callback(client, await pick_account(browser, authorize_url, "bob"))

        assert response.status_code == 302, response.text
        assert response.headers["location"].startswith(f"{FRONTEND_URL}/#")


class TestProviderUnreachable:
    @pytest.mark.timeout(15)
    async def test_login_with_closed_port(
        self, admin_settings: Settings, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        settings = with_provider(admin_settings, f"http://127.0.0.1:{closed_port()}")
        async with running_admin(settings, session_factory) as client:
            started = time.monotonic()
            response = await client.get(LOGIN_PATH)

        assert time.monotonic() - started < 15
        body = assert_problem(response, 503)
        assert "mock" in body["detail"]

    @pytest.mark.timeout(15)
    async def test_login_with_provider_that_never_answers(
        self, admin_settings: Settings, session_factory: async_sessionmaker[AsyncSession]
    ) -> None:
        # Accepts connections (the kernel's backlog) but never reads or answers.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            issuer = f"http://127.0.0.1:{silent.getsockname()[1]}"
            settings = with_provider(admin_settings, issuer, OIDC_TIMEOUT_SECONDS=0.5)
            async with running_admin(settings, session_factory) as client:
                started = time.monotonic()
                response = await client.get(LOGIN_PATH)

        # admin's timeout ends the wait (by its default of 10 s, the test would wait as long).
        assert 0.5 <= time.monotonic() - started < 5
        assert_problem(response, 503)

    @pytest.mark.timeout(15)
    async def test_callback_after_provider_went_down(
        self,
        admin_settings: Settings,
        session_factory: async_sessionmaker[AsyncSession],
        browser: httpx.AsyncClient,
    ) -> None:
        with ExitStack() as provider_running:
            provider = provider_running.enter_context(
                oidc_provider_mock.run_server_in_thread(port=0, user_claims=[ALICE])
            )
            settings = with_provider(admin_settings, f"http://localhost:{provider.server_port}")
            async with running_admin(settings, session_factory) as client:
                authorize_url = await start_login(client)
                callback_url = await pick_account(browser, authorize_url, ALICE.sub)
                # werkzeug's dev server closes every connection, so no kept-alive one survives.
                provider_running.close()
                started = time.monotonic()
                response = await follow_callback(client, callback_url)

        assert time.monotonic() - started < 15
        assert_problem(response, 503)
