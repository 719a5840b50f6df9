import httpx


class TestLoginAndMe:
    async def test_password_login_then_me(self, admin_client: httpx.AsyncClient, factory) -> None:
        actor = await factory.user("alice", password="correct horse battery")
        response = await admin_client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": "correct horse battery"}
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        me = await admin_client.get(
            "/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        assert me.status_code == 200, me.text
        assert me.json()["id"] == str(actor.id)
