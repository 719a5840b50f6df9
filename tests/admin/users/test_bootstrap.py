from __future__ import annotations

from pydantic import SecretStr
from sqlalchemy import func, select

from nfhub_admin.bootstrap import bootstrap_first_user
from nfhub_admin.models import OrgMembership, User, audit_events

PASSWORD = SecretStr("a long bootstrap pw")


class TestBootstrapFirstUser:
    async def test_creates_the_configured_owner_on_an_empty_database(
        self, admin_app, admin_settings, admin_client, session_factory, db_session
    ) -> None:
        settings = admin_settings.model_copy(
            update={
                "BOOTSTRAP_USERNAME": "root-admin",
                "BOOTSTRAP_PASSWORD": SecretStr("a long bootstrap pw"),
            }
        )
        # The test database is shared by the session: only an empty users table bootstraps.
        if await db_session.scalar(select(func.count()).select_from(User)):
            await db_session.execute(User.__table__.delete())
            await db_session.commit()
        await bootstrap_first_user(settings, session_factory, admin_app.state.audit_writer)
        user = await db_session.scalar(select(User).where(User.username == "root-admin"))
        assert user is not None
        role = await db_session.scalar(
            select(OrgMembership.role).where(OrgMembership.user_id == user.id)
        )
        assert role == "owner"
        login = await admin_client.post(
            "/api/v1/auth/login", json={"username": "root-admin", "password": "a long bootstrap pw"}
        )
        assert login.status_code == 200
        action = await db_session.scalar(
            select(audit_events.c.action).where(audit_events.c.resource_id == str(user.id))
        )
        assert action == "user.bootstrap"

    async def test_does_nothing_once_a_user_exists(
        self, admin_app, admin_settings, factory, session_factory, db_session
    ) -> None:
        await factory.user("already-here")
        settings = admin_settings.model_copy(
            update={
                "BOOTSTRAP_USERNAME": "late-admin",
                "BOOTSTRAP_PASSWORD": SecretStr("a long bootstrap pw"),
            }
        )
        await bootstrap_first_user(settings, session_factory, admin_app.state.audit_writer)
        assert await db_session.scalar(select(User).where(User.username == "late-admin")) is None
