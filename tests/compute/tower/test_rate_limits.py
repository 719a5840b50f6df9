"""Nextflow's Tower reports are not rate limited: its Basic '@token:' header gives the edge no
token to count by, so every run on one host would share its address's budget."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from nfhub_compute.config import Settings
from support.tower import Nextflow, payload

WRITE_LIMIT = 3


@pytest.fixture
def compute_settings(compute_settings: Settings) -> Settings:
    return compute_settings.model_copy(
        update={"RATE_LIMIT_ENABLED": True, "RATE_LIMIT_WRITE": WRITE_LIMIT}
    )


async def test_reports_beyond_the_write_budget_are_all_taken(
    nextflow: Nextflow, compute_client: httpx.AsyncClient, team: Any
) -> None:
    workflow_id = await nextflow.started()

    for _ in range(WRITE_LIMIT * 2):
        response = await nextflow.put(workflow_id, "progress", payload("progress"))
        assert response.status_code == 200, response.text

    # The same address's other writes still are limited.
    answers = [
        await compute_client.post(
            "/api/v1/runs", json={"pipeline": "nope"}, headers=team.headers("editor")
        )
        for _ in range(WRITE_LIMIT + 1)
    ]
    assert answers[-1].status_code == 429
