"""The compute service, called as the caller: pipeline schemas, and runs for orders."""

from __future__ import annotations

import uuid
from typing import Any

from nfhub_shared.clients import CallerClient

# compute's pipeline slugs: anything else could reach another compute route through the path.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$"


class ComputeClient(CallerClient):
    service = "compute"

    async def pipeline(
        self, token: str, project_id: uuid.UUID, slug: str, version: str | None
    ) -> dict[str, Any]:
        """The pipeline with the version asked for (or its latest); NotFound passed on."""
        params = {"version": version} if version else {}
        response = await self._call(
            "GET", f"/api/v1/pipelines/slug/{slug}", token, project_id, params=params
        )
        return self._body(response)

    async def input_schema(
        self, token: str, project_id: uuid.UUID, slug: str, version: str
    ) -> dict[str, Any]:
        response = await self._call(
            "GET",
            f"/api/v1/pipelines/slug/{slug}/versions/{version}/input-schema",
            token,
            project_id,
        )
        return self._body(response)

    async def create_run(
        self, token: str, project_id: uuid.UUID, body: dict[str, Any]
    ) -> dict[str, Any]:
        response = await self._call("POST", "/api/v1/runs", token, project_id, json=body)
        return self._body(response)

    async def run(self, token: str, project_id: uuid.UUID, run_id: uuid.UUID) -> dict[str, Any]:
        response = await self._call("GET", f"/api/v1/runs/{run_id}", token, project_id)
        return self._body(response)
