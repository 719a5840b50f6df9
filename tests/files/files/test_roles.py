"""Who may call what: viewers read, editors write; no project header is a 400, no token a 401."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


class TestEditor:
    async def test_every_route_succeeds(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_route: Any,
    ) -> None:
        """The table's requests are valid, each on a fresh project: the refusals elsewhere are
        about who asks or what path, not a broken request."""
        editor, _, project_id = project
        route = await file_route.bind(files_client, editor.in_project(project_id))

        response = await route.send(files_client, editor.in_project(project_id))

        assert response.status_code == route.success, response.text


class TestViewer:
    async def test_reads_succeed_and_writes_are_403(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
    ) -> None:
        editor, viewer, project_id = project
        routes = [
            await r.bind(files_client, editor.in_project(project_id)) for r in file_routes.values()
        ]
        before = disk.snapshot()
        outcomes = {}
        expected = {}
        for route in routes:
            response = await route.send(files_client, viewer.in_project(project_id))

            outcomes[route.name] = response.status_code
            expected[route.name] = route.success if route.role == "viewer" else 403
            if route.role == "editor":
                assert response.headers["content-type"] == PROBLEM_JSON
                assert "editor" in response.json()["detail"]
        assert outcomes == expected
        assert {r.name for r in routes if r.role == "viewer"} >= {
            "GET /api/v1/files",
            "GET /api/v1/files/stat",
            "GET /api/v1/files/download-url",
        }
        # Viewer reads change nothing either (an archive request only queues a row).
        assert disk.snapshot() == before


class TestProjectHeader:
    async def test_missing_or_malformed_is_a_400_on_every_route(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
    ) -> None:
        editor, _, project_id = project
        routes = [
            await r.bind(files_client, editor.in_project(project_id)) for r in file_routes.values()
        ]
        before = disk.snapshot()
        outcomes = {}
        for route in routes:
            for header in (None, "not-a-uuid"):
                headers = dict(editor.headers)
                if header is not None:
                    headers["X-Project-ID"] = header

                response = await route.send(files_client, headers)

                detail = response.json().get("detail", "")
                outcomes[route.name, header] = (response.status_code, "X-Project-ID" in detail)
        assert outcomes == dict.fromkeys(outcomes, (400, True))
        assert disk.snapshot() == before


class TestToken:
    async def test_none_is_a_401_with_a_challenge_on_every_route(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
    ) -> None:
        editor, _, project_id = project
        routes = [
            await r.bind(files_client, editor.in_project(project_id)) for r in file_routes.values()
        ]
        before = disk.snapshot()
        outcomes = {}
        for route in routes:
            response = await route.send(files_client, {"X-Project-ID": str(project_id)})

            outcomes[route.name] = (
                response.status_code,
                response.headers["content-type"],
                response.headers.get("www-authenticate", "").startswith("Bearer"),
            )
        assert outcomes == dict.fromkeys(outcomes, (401, PROBLEM_JSON, True))
        assert disk.snapshot() == before

    async def test_a_forged_token_is_a_401_on_every_route(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
    ) -> None:
        editor, _, project_id = project
        header, payload, signature = editor.token.split(".")
        forged = f"{header}.{payload}.{signature[::-1]}"
        routes = [
            await r.bind(files_client, editor.in_project(project_id)) for r in file_routes.values()
        ]
        before = disk.snapshot()
        outcomes = {}
        for route in routes:
            headers = {"Authorization": f"Bearer {forged}", "X-Project-ID": str(project_id)}

            response = await route.send(files_client, headers)

            outcomes[route.name] = response.status_code
        assert outcomes == dict.fromkeys(outcomes, 401)
        assert disk.snapshot() == before
