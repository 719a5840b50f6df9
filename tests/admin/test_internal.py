"""Internal endpoints answer other services (a service token), never users."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest


@pytest.fixture
def service_headers(admin_app: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {admin_app.state.service_tokens.token()}"}


class TestStorageLocation:
    async def test_a_service_learns_where_a_projects_files_are(
        self,
        admin_client: httpx.AsyncClient,
        admin_settings: Any,
        factory: Any,
        service_headers: dict[str, str],
    ) -> None:
        owner = await factory.user()
        project_id = await factory.project(await factory.org(owner))

        response = await admin_client.post(
            "/api/v1/internal/storage-location",
            json={"project_id": str(project_id)},
            headers=service_headers,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        root = admin_settings.STORAGE_LOCAL_ROOT.resolve().as_uri()
        assert body["uri"] == f"{root}/projects/{project_id}/"
        assert (body["backend"], body["prefix"]) == ("local", f"projects/{project_id}/")
        assert body["credentials"] is None

    async def test_an_unknown_project_is_404(
        self, admin_client: httpx.AsyncClient, service_headers: dict[str, str]
    ) -> None:
        response = await admin_client.post(
            "/api/v1/internal/storage-location",
            json={"project_id": str(uuid.uuid4())},
            headers=service_headers,
        )

        assert response.status_code == 404

    async def test_a_user_token_is_refused(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        owner = await factory.user()
        project_id = await factory.project(await factory.org(owner))

        response = await admin_client.post(
            "/api/v1/internal/storage-location",
            json={"project_id": str(project_id)},
            headers=owner.headers,
        )

        assert response.status_code == 401
        assert "uri" not in response.text


class TestProjectAccess:
    @pytest.mark.parametrize(
        ("org_role", "project_role", "expected"),
        [
            ("owner", None, ("admin", "owner")),
            ("admin", None, ("admin", "admin")),
            ("member", "editor", ("editor", "member")),
            ("admin", "viewer", ("admin", "admin")),  # org admins administer every project
            ("member", None, (None, None)),  # in the org, not in the project
            (None, None, (None, None)),
        ],
    )
    async def test_a_service_learns_the_project_role_and_the_org_role(
        self,
        admin_client: httpx.AsyncClient,
        factory: Any,
        service_headers: dict[str, str],
        org_role: str | None,
        project_role: str | None,
        expected: tuple[str | None, str | None],
    ) -> None:
        owner, user = await factory.user(), await factory.user()
        org_id = await factory.org(owner)
        if org_role == "owner":
            user = owner
        elif org_role is not None:
            await factory.join_org(org_id, user, org_role)
        members = {user: project_role} if project_role else {}
        project_id = await factory.project(org_id, members=members)

        response = await admin_client.post(
            "/api/v1/internal/project-access",
            json={"user_id": str(user.id), "project_id": str(project_id)},
            headers=service_headers,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["role"], body["org_role"]) == expected
        assert body["org_id"] == (str(org_id) if expected[0] else None)


class TestWorkspaceProject:
    async def test_a_projects_workspace_id_names_it(
        self, admin_client: httpx.AsyncClient, factory: Any, service_headers: dict[str, str]
    ) -> None:
        owner = await factory.user()
        org = await factory.org(owner)
        first, second = await factory.project(org), await factory.project(org)
        shown = await admin_client.get(f"/api/v1/projects/{second}", headers=owner.headers)
        assert shown.status_code == 200, shown.text
        workspace_id = shown.json()["workspace_id"]

        response = await admin_client.post(
            "/api/v1/internal/workspace-project",
            json={"workspace_id": workspace_id},
            headers=service_headers,
        )

        assert response.status_code == 200, response.text
        assert response.json() == {"workspace_id": workspace_id, "project_id": str(second)}
        other = await admin_client.get(f"/api/v1/projects/{first}", headers=owner.headers)
        assert other.json()["workspace_id"] != workspace_id

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"workspace_id": 2**62}, 404),
            ({"workspace_id": 0}, 422),
            ({"workspace_id": "abc"}, 422),
            ({"workspace_id": 2**63}, 422),
            ({}, 422),
        ],
    )
    async def test_bad_or_unknown_workspace_ids(
        self,
        admin_client: httpx.AsyncClient,
        service_headers: dict[str, str],
        body: dict[str, Any],
        status: int,
    ) -> None:
        response = await admin_client.post(
            "/api/v1/internal/workspace-project", json=body, headers=service_headers
        )

        assert response.status_code == status, response.text
        assert "project_id" not in response.json()

    async def test_a_user_token_is_refused(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        owner = await factory.user()
        await factory.project(await factory.org(owner))

        response = await admin_client.post(
            "/api/v1/internal/workspace-project", json={"workspace_id": 1}, headers=owner.headers
        )

        assert response.status_code == 401
