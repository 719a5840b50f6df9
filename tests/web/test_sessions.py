"""Login, the session cookie, the tokens kept server-side, refresh, logout, CSRF."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import nfhub_web
from nfhub_shared.db.base import utcnow
from nfhub_shared.logging import begin_request_fields, end_request_fields
from nfhub_web.main import create_app
from nfhub_web.models import WebSession
from nfhub_web.state import WebState
from support.inprocess import Team
from support.web import WEB_BASE_URL, admin_only, csrf_of, log_in, web_settings_for

SESSION_COOKIE = "__Host-nfhub_session"


async def only_session(sessions: async_sessionmaker[AsyncSession]) -> WebSession:
    async with sessions() as db:
        rows = list(await db.scalars(select(WebSession)))
    assert len(rows) == 1, rows
    return rows[0]


def tokens_of(app: FastAPI, row: WebSession) -> tuple[str, str]:
    keys = WebState.of(app).session_keys
    return (
        keys.open(row.access_token_sealed, f"web-session:{row.id}:access".encode()),
        keys.open(row.refresh_token_sealed, f"web-session:{row.id}:refresh".encode()),
    )


def set_cookie_header(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


@pytest.fixture
def web_routes(admin_transport: httpx.ASGITransport) -> dict[str, httpx.AsyncBaseTransport]:
    """Its pages call admin alone."""
    return admin_only(admin_transport)


class TestLogin:
    async def test_password_login_keeps_tokens_server_side(
        self,
        browser: httpx.AsyncClient,
        web_app: FastAPI,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await log_in(browser, team.editor.username, team.editor.password, "/tokens")

        assert response.status_code == 303
        assert response.headers["location"] == "/tokens"
        header = set_cookie_header(response, SESSION_COOKIE)
        cookie = SimpleCookie(header)[SESSION_COOKIE]
        assert cookie["httponly"] is True
        assert cookie["secure"] is True
        assert cookie["samesite"] == "lax"
        assert cookie["path"] == "/"
        assert not cookie["domain"]  # __Host-: this host only
        row = await only_session(session_factory)
        # The browser's secret is stored hashed; the tokens sealed, not as they are.
        assert row.secret_hash == hashlib.sha256(cookie.value.encode()).hexdigest()
        access, refresh = tokens_of(web_app, row)
        assert access not in row.access_token_sealed
        assert refresh not in row.refresh_token_sealed
        assert row.user_id == team.editor.id

        page = await browser.get("/tokens")
        assert page.status_code == 200
        assert access not in page.text and refresh not in page.text
        assert cookie.value not in page.text

    async def test_a_login_purges_sessions_that_ended(
        self,
        browser: httpx.AsyncClient,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        await log_in(browser, team.editor.username, team.editor.password)
        ended = await only_session(session_factory)
        async with session_factory() as db, db.begin():
            await db.execute(
                update(WebSession).values(refresh_expires_at=utcnow() - timedelta(seconds=1))
            )
        browser.cookies.clear()

        response = await log_in(browser, team.viewer.username, team.viewer.password)

        assert response.status_code == 303, response.text
        assert (await only_session(session_factory)).id != ended.id

    async def test_wrong_password_shows_admins_answer_and_no_session(
        self,
        browser: httpx.AsyncClient,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        response = await log_in(browser, team.editor.username, "not-the-password")

        assert response.status_code == 401
        assert 'role="alert"' in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []

    async def test_login_form_without_its_token_is_refused(
        self, browser: httpx.AsyncClient, team: Team
    ) -> None:
        response = await browser.post(
            "/login",
            data={"username": team.editor.username, "password": team.editor.password},
        )

        assert response.status_code == 403
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")

    async def test_next_never_leaves_the_site(self, browser: httpx.AsyncClient, team: Team) -> None:
        response = await log_in(
            browser, team.editor.username, team.editor.password, "//evil.example/x"
        )

        assert response.status_code == 303
        assert response.headers["location"] == "/runs"

    async def test_pages_need_a_session(self, browser: httpx.AsyncClient) -> None:
        page = await browser.get("/runs", params={"state": "RUNNING"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=/runs%3Fstate%3DRUNNING"

        fragment = await browser.get("/runs/rows", headers={"HX-Request": "true"})
        assert fragment.status_code == 401
        assert fragment.headers["hx-redirect"].startswith("/login?next=")

    async def test_plain_http_setting_drops_secure_and_the_prefix(
        self, web_app: FastAPI, team: Team
    ) -> None:
        WebState.of(web_app).settings = WebState.of(web_app).settings.model_copy(
            update={"COOKIE_SECURE": False}
        )
        transport = httpx.ASGITransport(app=web_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as client:
            response = await log_in(client, team.editor.username, team.editor.password)

        header = set_cookie_header(response, "nfhub_session")
        cookie = SimpleCookie(header)["nfhub_session"]
        assert cookie["httponly"] is True
        assert not cookie["secure"]
        assert cookie["samesite"] == "lax"


class CountingTransport(httpx.AsyncBaseTransport):
    """admin's transport, keeping the path of every call web makes through it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


class TestLoginPage:
    @pytest.fixture
    def counted_admin(self, admin_transport: httpx.ASGITransport) -> CountingTransport:
        return CountingTransport(admin_transport)

    @pytest.fixture
    def web_routes(self, counted_admin: CountingTransport) -> dict[str, httpx.AsyncBaseTransport]:
        return {"admin.test": counted_admin}

    async def test_admins_login_providers_are_asked_once_not_per_view(
        self, browser: httpx.AsyncClient, counted_admin: CountingTransport
    ) -> None:
        """Every call of web's to admin's /auth/ paths draws on one rate-limit budget (web's
        address): showing the login form does not spend it each time."""
        pages = [await browser.get("/login") for _ in range(3)]

        assert [page.status_code for page in pages] == [200, 200, 200]
        assert counted_admin.paths.count("/api/v1/auth/providers") == 1


class TestRefresh:
    async def test_expired_access_token_is_refreshed_for_the_user(
        self,
        editor_browser: httpx.AsyncClient,
        web_app: FastAPI,
        admin_client: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        before = await only_session(session_factory)
        old_access, old_refresh = tokens_of(web_app, before)
        async with session_factory() as db, db.begin():
            await db.execute(
                update(WebSession).values(access_expires_at=utcnow() - timedelta(seconds=1))
            )

        page = await editor_browser.get("/tokens")

        assert page.status_code == 200, page.text
        after = await only_session(session_factory)
        new_access, new_refresh = tokens_of(web_app, after)
        assert new_access != old_access
        assert new_refresh != old_refresh
        assert after.access_expires_at > utcnow()
        # Rotated: the old refresh token no longer works at admin.
        reused = await admin_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": old_refresh}
        )
        assert reused.status_code == 401

    async def test_a_login_ended_at_admin_ends_the_session(
        self,
        editor_browser: httpx.AsyncClient,
        web_app: FastAPI,
        admin_client: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        row = await only_session(session_factory)
        _, refresh = tokens_of(web_app, row)
        revoked = await admin_client.post("/api/v1/auth/logout", json={"refresh_token": refresh})
        assert revoked.status_code == 204
        async with session_factory() as db, db.begin():
            await db.execute(
                update(WebSession).values(access_expires_at=utcnow() - timedelta(seconds=1))
            )

        page = await editor_browser.get("/tokens")

        assert page.status_code == 303
        assert page.headers["location"].startswith("/login")
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []

    async def test_an_idle_session_ends(
        self,
        editor_browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        async with session_factory() as db, db.begin():
            await db.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(days=1)))

        page = await editor_browser.get("/tokens")

        assert page.status_code == 303
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []


class TestLogout:
    async def test_logout_revokes_the_login_and_forgets_the_session(
        self,
        editor_browser: httpx.AsyncClient,
        web_app: FastAPI,
        admin_client: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        row = await only_session(session_factory)
        _, refresh = tokens_of(web_app, row)
        page = await editor_browser.get("/tokens")

        response = await editor_browser.post("/logout", data={"csrf_token": csrf_of(page.text)})

        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert "Max-Age=0" in set_cookie_header(response, SESSION_COOKIE)
        async with session_factory() as db:
            assert list(await db.scalars(select(WebSession))) == []
        again = await admin_client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        assert again.status_code == 401
        assert (await editor_browser.get("/tokens")).status_code == 303


class TestCsrf:
    async def test_unsafe_requests_without_the_token_are_refused(
        self,
        editor_browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        missing = await editor_browser.post("/logout")
        wrong = await editor_browser.post("/logout", data={"csrf_token": "guessed"})
        wrong_header = await editor_browser.post("/logout", headers={"X-CSRF-Token": "guessed"})

        for response in (missing, wrong, wrong_header):
            assert response.status_code == 403
            assert "CSRF" in response.text
        await only_session(session_factory)  # still logged in

    async def test_htmx_sends_the_token_in_a_header(
        self,
        editor_browser: httpx.AsyncClient,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        row = await only_session(session_factory)
        page = await editor_browser.get("/tokens")
        assert f'hx-headers=\'{{"X-CSRF-Token": "{row.csrf_token}"}}\'' in page.text

        response = await editor_browser.post(
            "/logout", headers={"X-CSRF-Token": row.csrf_token, "HX-Request": "true"}
        )

        assert response.status_code == 303


class TestHeaders:
    async def test_pages_carry_a_strict_policy(self, browser: httpx.AsyncClient) -> None:
        page = await browser.get("/login")

        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text  # no inline script at all
        static = await browser.get("/static/app.css")
        assert static.status_code == 200
        assert static.headers["cache-control"] == "no-cache"

    async def test_health(self, browser: httpx.AsyncClient) -> None:
        assert (await browser.get("/healthz")).json() == {"status": "ok"}
        assert (await browser.get("/readyz")).status_code == 200


class TestWeight:
    def test_no_page_ships_more_than_150_kb_of_javascript(self) -> None:
        """Every script a page can load is in static/ (the CSP allows no other): all of them
        together stay under the issue's budget."""
        static = Path(nfhub_web.__file__).parent / "static"
        scripts = {path.name: path.stat().st_size for path in static.glob("*.js")}
        assert "htmx-2.0.11.min.js" in scripts
        assert sum(scripts.values()) < 150 * 1024, scripts


class TestRequestIds:
    async def test_the_pages_request_id_reaches_the_api(self, web_app: FastAPI) -> None:
        """admin echoes the id it was given: what web's Apis sent along, read back."""
        apis = WebState.of(web_app).apis
        token = begin_request_fields(request_id="web-page-request-1")
        try:
            response = await apis.call("admin", "GET", "/auth/providers")
        finally:
            end_request_fields(token)

        assert response.headers["x-request-id"] == "web-page-request-1"


class TestDatabaseDown:
    async def test_a_page_is_a_503_to_retry_not_a_500(self) -> None:
        """Every page reads its session from the database first: with it down, the page says
        to try again (as the APIs' 503 does) instead of reporting a fault of web's."""
        app = create_app(web_settings_for("postgresql://u@127.0.0.1:1/none"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=WEB_BASE_URL) as client:
                client.cookies.set(SESSION_COOKIE, "a-session-secret")
                response = await client.get("/runs")

        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "5"
        assert "try again shortly" in response.text
