"""The compute service, called as the caller: pipeline schemas, and runs for orders; and as
miner itself (a service token) for the states of the runs its orders follow."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from nfhub_shared.clients import TIMEOUT_SECONDS, CallerClient
from nfhub_shared.errors import ServiceUnavailable

logger = structlog.get_logger("nfhub.miner.compute")

# compute's pipeline slugs: anything else could reach another compute route through the path.
SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$"
# Run ids per call of compute's internal run-states endpoint (its limit).
RUN_STATES_BATCH = 500
FINAL_RUN_STATES = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED"})


class RunState(BaseModel):
    """A run as compute's internal run-states endpoint reports it."""

    id: uuid.UUID
    project_id: uuid.UUID
    state: str
    state_reason: str | None = None
    finished_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.state in FINAL_RUN_STATES


class RunStates(BaseModel):
    items: list[RunState]


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

    async def run_states(self, run_ids: Sequence[uuid.UUID]) -> list[RunState]:
        """The runs compute knows among ``run_ids`` (any project), as miner itself: 500 a call.
        ServiceUnavailable when compute cannot answer."""
        found: list[RunState] = []
        unique = list(dict.fromkeys(run_ids))
        for start in range(0, len(unique), RUN_STATES_BATCH):
            batch = [str(run_id) for run_id in unique[start : start + RUN_STATES_BATCH]]
            try:
                response = await self.client.post(
                    f"{self.base_url}/api/v1/internal/run-states",
                    json={"ids": batch},
                    headers={"Authorization": f"Bearer {self.service_tokens.token()}"},
                    timeout=TIMEOUT_SECONDS,
                )
                response.raise_for_status()
                found += RunStates.model_validate_json(response.content).items
            except (httpx.HTTPError, ValidationError) as exc:
                logger.warning("compute run-states failed", error=type(exc).__name__)
                raise ServiceUnavailable("compute cannot say how runs stand right now.") from exc
        return found
