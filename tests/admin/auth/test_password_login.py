from __future__ import annotations

import httpx
from sqlalchemy import select, update

from nfhub_admin.models import User, audit_events


class TestLogin:
    async def test_failed_login_is_audited_even_though_it_answers_401(
        self, admin_client: httpx.AsyncClient, factory, db_session
    ) -> None:
        actor = await factory.user("carol", password="right password here")
        response = await admin_client.post(
            "/api/v1/auth/login", json={"username": "carol", "password": "wrong password"}
        )
        assert response.status_code == 401
        rows = (
            await db_session.execute(
                select(audit_events.c.action).where(audit_events.c.resource_id == str(actor.id))
            )
        ).all()
        assert [row.action for row in rows] == ["auth.login_failed"]

    async def test_oauth2_form_login_gives_tokens(self, admin_client: httpx.AsyncClient, factory):
        await factory.user("dave", password="another long password")
        response = await admin_client.post(
            "/api/v1/auth/token",
            data={
                "username": "dave",
                "password": "another long password",
                "grant_type": "password",
            },
        )
        assert response.status_code == 200, response.text
        assert response.json()["token_type"] == "bearer"


class TestDisabledUser:
    async def test_valid_access_token_of_a_disabled_user_is_401(
        self, admin_client: httpx.AsyncClient, factory, db_session
    ) -> None:
        actor = await factory.user()
        await db_session.execute(update(User).where(User.id == actor.id).values(is_active=False))
        await db_session.commit()
        response = await admin_client.get("/api/v1/users/me", headers=actor.headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
