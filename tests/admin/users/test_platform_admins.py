"""Platform admins: a flag on users, set from configuration, carried as the platform:admin scope
(publishing pipelines every org sees needs it; see tests/compute/pipelines)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from nfhub_admin.bootstrap import bootstrap_first_user, bootstrap_platform_admins
from nfhub_admin.models import User, audit_events
from nfhub_shared.auth.revocations import CHANNEL, asyncpg_dsn
from nfhub_shared.auth.scopes import PLATFORM_ADMIN_SCOPE

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"
TOKENS = "/api/v1/tokens"
INTROSPECT = "/api/v1/internal/introspect"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service_headers(admin_app: Any) -> dict[str, str]:
    return bearer(admin_app.state.service_tokens.token())


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, Any]:
    response = await client.post(LOGIN, json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestLoginScopes:
    @pytest.mark.parametrize(("platform_admin", "has_scope"), [(False, False), (True, True)])
    async def test_only_a_platform_admin_is_given_platform_admin(
        self, admin_client: httpx.AsyncClient, factory: Any, platform_admin: bool, has_scope: bool
    ) -> None:
        actor = await factory.user(password="a long test password", platform_admin=platform_admin)

        pair = await login(admin_client, actor.username, "a long test password")
        me = await admin_client.get(ME, headers=bearer(pair["access_token"]))

        assert (PLATFORM_ADMIN_SCOPE in pair["scope"].split()) is has_scope
        assert "pipelines:write" in pair["scope"].split()
        assert me.json()["is_platform_admin"] is platform_admin


class TestTokens:
    async def test_a_user_cannot_give_a_token_platform_admin(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        actor = await factory.user()

        response = await admin_client.post(
            TOKENS, headers=actor.headers, json={"name": "sneaky", "scopes": [PLATFORM_ADMIN_SCOPE]}
        )

        assert response.status_code == 403, response.text
        assert PLATFORM_ADMIN_SCOPE in response.json()["detail"]

    @pytest.mark.parametrize(
        ("flag_after", "scope_after"),
        [(True, True), (False, False)],
        ids=["still-admin", "flag-cleared"],
    )
    async def test_introspection_keeps_only_what_the_user_may_hold(
        self,
        admin_client: httpx.AsyncClient,
        factory: Any,
        db_session: Any,
        service_headers: dict[str, str],
        flag_after: bool,
        scope_after: bool,
    ) -> None:
        actor = await factory.user(platform_admin=True)
        _, secret = await factory.personal_access_token(actor)
        await db_session.execute(
            update(User).where(User.id == actor.id).values(is_platform_admin=flag_after)
        )
        await db_session.commit()

        response = await admin_client.post(
            INTROSPECT, json={"token": secret}, headers=service_headers
        )

        assert response.status_code == 200, response.text
        scopes = response.json()["scope"].split()
        assert (PLATFORM_ADMIN_SCOPE in scopes) is scope_after
        assert "pipelines:write" in scopes


class TestBootstrap:
    async def test_the_bootstrap_user_is_a_platform_admin(
        self, admin_app: Any, admin_settings: Any, admin_client: httpx.AsyncClient,
        session_factory: Any, db_session: Any,
    ) -> None:  # fmt: skip
        settings = admin_settings.model_copy(
            update={
                "BOOTSTRAP_USERNAME": "root-admin",
                "BOOTSTRAP_PASSWORD": SecretStr("a long bootstrap pw"),
            }
        )
        # Only an empty users table bootstraps (the database is shared by the session).
        if await db_session.scalar(select(func.count()).select_from(User)):
            await db_session.execute(User.__table__.delete())
            await db_session.commit()

        await bootstrap_first_user(settings, session_factory, admin_app.state.audit_writer)
        pair = await login(admin_client, "root-admin", "a long bootstrap pw")

        assert PLATFORM_ADMIN_SCOPE in pair["scope"].split()

    async def test_the_configured_usernames_become_platform_admins(
        self, admin_app: Any, admin_settings: Any, factory: Any, session_factory: Any,
        db_session: Any,
    ) -> None:  # fmt: skip
        listed, other = await factory.user(), await factory.user()
        settings = admin_settings.model_copy(
            update={"PLATFORM_ADMINS": [listed.username.upper(), "nobody-by-that-name"]}
        )

        for _ in range(2):  # every start; the second changes nothing
            await bootstrap_platform_admins(settings, session_factory, admin_app.state.audit_writer)

        flags = dict(
            (await db_session.execute(
                select(User.username, User.is_platform_admin).where(
                    User.id.in_([listed.id, other.id])
                )
            )).all()
        )  # fmt: skip
        grants = await db_session.scalar(
            select(func.count())
            .select_from(audit_events)
            .where(
                audit_events.c.action == "user.platform_admin.grant",
                audit_events.c.resource_id == str(listed.id),
            )
        )
        assert flags == {listed.username: True, other.username: False}
        assert grants == 1


class TestStartAnnouncements:
    async def test_a_start_that_flags_nobody_announces_nothing(
        self, nfhub_fresh_database: Any, admin_app: Any, admin_settings: Any
    ) -> None:
        """Flagging announces an access change (the users trigger); a start that changes no
        one must not, or every service drops its caches at each admin restart."""
        settings = admin_settings.model_copy(update={"PLATFORM_ADMINS": ["boss"]})
        with nfhub_fresh_database() as url:  # committed: announcements go out at commit
            engine = create_async_engine(url, poolclass=NullPool)
            sessions = async_sessionmaker(engine, expire_on_commit=False)
            async with sessions() as session, session.begin():
                session.add(User(username="boss", display_name="Boss"))
            heard: asyncio.Queue[str] = asyncio.Queue()
            listener = await asyncpg.connect(asyncpg_dsn(url))
            try:
                await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[-1]))

                async def announcements_after_a_start() -> list[str]:
                    await bootstrap_platform_admins(
                        settings, sessions, admin_app.state.audit_writer
                    )
                    # A marker sent after the start's commit arrives after anything it announced.
                    await listener.execute("SELECT pg_notify($1, 'marker')", CHANNEL)
                    found = []
                    while (payload := await asyncio.wait_for(heard.get(), 10)) != "marker":
                        found.append(payload)
                    return found

                assert await announcements_after_a_start() == ["users"]
                assert await announcements_after_a_start() == []
            finally:
                await listener.close()
                await engine.dispose()
