"""Another project's files are invisible: every /api/v1/files route answers 404 (never 403,
which would confirm the project exists) to a caller outside the project, and changes nothing.

The routes come from FILE_ROUTES (conftest), which test_path_safety checks against the OpenAPI
document, and ``test_the_table_covers_every_route`` here checks it holds every files route.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.models import Project

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Outsiders:
    """Callers with no role in the project: one in the same org, one in another org."""

    same_org: Any
    same_org_project: uuid.UUID
    other_org: Any
    other_org_project: uuid.UUID


@pytest.fixture
async def outsiders(
    factory: Any,
    project: tuple[Any, Any, uuid.UUID],
    session_factory: async_sessionmaker[AsyncSession],
) -> Outsiders:
    async with session_factory() as session:
        the_project = await session.get(Project, project[2])
        assert the_project is not None
        org_id = the_project.org_id
    neighbour = await factory.user()
    same_org_project = await factory.project(org_id, members={neighbour: "admin"})
    stranger = await factory.user()
    other_org = await factory.org(stranger)
    other_org_project = await factory.project(other_org, members={stranger: "admin"})
    return Outsiders(neighbour, same_org_project, stranger, other_org_project)


class TestRouteTable:
    def test_the_table_covers_every_route(
        self, files_app: FastAPI, file_routes: dict[str, Any]
    ) -> None:
        document = files_app.openapi()
        files_operations = {
            operation["operationId"]
            for path, item in document["paths"].items()
            if path.startswith("/api/v1/files")
            for operation in item.values()
        }

        assert files_operations == set(file_routes), "update FILE_ROUTES in tests/files/conftest.py"


class TestOtherProjectsFiles:
    async def test_every_route_is_a_404_for_callers_outside_the_project(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        outsiders: Outsiders,
        file_routes: dict[str, Any],
    ) -> None:
        editor, _, project_id = project
        routes = [
            await r.bind(files_client, editor.in_project(project_id)) for r in file_routes.values()
        ]
        before = disk.snapshot()
        outcomes = {}
        for route in routes:
            for name, outsider in [
                ("same org", outsiders.same_org),
                ("other org", outsiders.other_org),
            ]:
                response = await route.send(files_client, outsider.in_project(project_id))

                outcomes[route.name, name] = (
                    response.status_code,
                    response.headers["content-type"],
                )
        assert outcomes == dict.fromkeys(outcomes, (404, PROBLEM_JSON))
        assert disk.snapshot() == before

    async def test_this_projects_ids_and_paths_mean_nothing_in_another_project(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        outsiders: Outsiders,
        file_routes: dict[str, Any],
    ) -> None:
        """Members of their own project name this project's files, uploads and archives.

        Routes that name nothing of it (a write to a path of one's own project) are left out.
        """
        editor, _, project_id = project
        routes = [
            await route.bind(files_client, editor.in_project(project_id))
            for route in file_routes.values()
            if route.prepare is not None or (route.role == "viewer" and route.path_fields)
        ]
        before = disk.snapshot()
        outcomes = {}
        for route in routes:
            for outsider, own_project in [
                (outsiders.same_org, outsiders.same_org_project),
                (outsiders.other_org, outsiders.other_org_project),
            ]:
                response = await route.send(files_client, outsider.in_project(own_project))

                found = response.status_code
                if route.reports_missing and found == 200:
                    body = response.json()
                    found = 404 if not body["items"] and body["missing"] else 200
                outcomes[route.name, own_project] = found
        assert len(routes) >= 8
        assert outcomes == dict.fromkeys(outcomes, 404)
        assert disk.snapshot() == before

    async def test_the_project_root_lists_nothing_of_another_project(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        outsiders: Outsiders,
    ) -> None:
        response = await files_client.get(
            "/api/v1/files", headers=outsiders.other_org.in_project(outsiders.other_org_project)
        )

        assert response.status_code == 200
        assert response.json()["items"] == []
        assert response.json()["count"] == 0
