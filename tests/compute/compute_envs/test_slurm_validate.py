"""validate of a slurm compute environment asks the real Slurm (tests/support/slurm.py)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support.slurm import SlurmCluster

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

URL = "/api/v1/compute-envs"


@pytest.mark.parametrize(
    ("partition", "status", "reason"),
    [
        ("debug", 200, None),
        ("gpu", 422, "Slurm has no partition 'gpu'; it has debug, tiny"),
    ],
)
async def test_the_scheduler_is_asked_about_the_partition(
    slurm: SlurmCluster,
    compute_client: httpx.AsyncClient,
    new_env: Any,
    team: Any,
    partition: str,
    status: int,
    reason: str | None,
) -> None:
    env = (
        await new_env(name=f"hpc-{partition}", backend="slurm",
                      backend_options={"partition": partition})
    ).json()  # fmt: skip

    response = await compute_client.post(
        f"{URL}/{env['id']}/validate", headers=team.headers("admin")
    )
    recorded = (
        await compute_client.get(f"{URL}/{env['id']}", headers=team.headers("admin"))
    ).json()

    assert response.status_code == status, response.text
    if reason is None:
        assert (recorded["status"], recorded["status_reason"]) == ("AVAILABLE", None)
    else:
        assert reason in response.json()["detail"]
        assert recorded["status"] == "INVALID" and reason in recorded["status_reason"]
