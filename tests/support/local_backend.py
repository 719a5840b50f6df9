"""What the local backend's tests share: a launch spec with defaults, waiting for the end."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from nfhub_compute.backends.base import JobState, JobStatus, LaunchSpec
from nfhub_compute.backends.local import LocalBackend

FAKE_PIPELINES = Path(__file__).resolve().parents[1] / "fakes" / "pipelines"


def launch_spec(pipeline: str = "hello", **changes: Any) -> LaunchSpec:
    """A spec of one of tests/fakes/pipelines; keyword arguments replace its fields."""
    values: dict[str, Any] = {
        "run_id": uuid.uuid4(),
        "nextflow_name": "nfhub-test",
        "source": str(FAKE_PIPELINES / pipeline),
        "revision": None,
        "params": {"outdir": "/nonexistent-out-is-fine", "task_seconds": 0},
        "profiles": [],
        "weblog_url": "http://127.0.0.1:9/api/v1/runs/x/events?token=t",
        **changes,
    }
    return LaunchSpec(**values)


async def wait_ended(backend: LocalBackend, handle: dict[str, Any]) -> JobStatus:
    async with asyncio.timeout(20):
        while True:
            status = await backend.status(handle)
            if status.state in (JobState.EXITED, JobState.LOST):
                return status
            await asyncio.sleep(0.05)
