"""A project editor's Nextflow reporting to compute's Tower endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import pytest_asyncio

from support.tower import Nextflow, RunsOf, workspace_of


@pytest_asyncio.fixture
async def nextflow(
    compute_client: httpx.AsyncClient, team: Any, factory: Any, session_factory: Any
) -> Nextflow:
    """The project editor's Nextflow, with a personal access token, as TOWER_ACCESS_TOKEN."""
    _, token = await factory.personal_access_token(team.editor)
    return Nextflow(compute_client, token, await workspace_of(session_factory, team.project_id))


@pytest.fixture
def runs_of(compute_client: httpx.AsyncClient, team: Any) -> RunsOf:
    """The project's runs as GET /runs lists them."""

    async def runs() -> list[dict[str, Any]]:
        response = await compute_client.get("/api/v1/runs", headers=team.headers("viewer"))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    return runs
