"""The trigger hears every writer of a run's state, not only RunRepository.move: Nextflow's
weblog `started` event and a run reported through the Tower protocol (each its own ingestion
path) send their events like the API's and the worker's moves."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.config import Settings
from nfhub_compute.runs.weblog import weblog_token
from nfhub_compute.worker.webhooks import deliverer
from support.inprocess import FIXTURES, Launch, SetRun, Team
from support.tower import Nextflow, payload, workspace_of
from support.webhook_receiver import Receiver, receiver

__all__ = ["receiver"]

WEBLOG = FIXTURES / "nextflow" / "weblog"


@pytest.fixture
def compute_settings(compute_settings: Settings) -> Settings:
    return compute_settings.model_copy(update={"WEBHOOK_ALLOW_PRIVATE_TARGETS": True})


@pytest_asyncio.fixture
async def nextflow(
    compute_client: httpx.AsyncClient, team: Team, factory: Any, session_factory: Any
) -> Nextflow:
    _, token = await factory.personal_access_token(team.editor)
    return Nextflow(compute_client, token, await workspace_of(session_factory, team.project_id))


async def test_tower_reported_run_sends_its_events(
    compute_client: httpx.AsyncClient,
    compute_settings: Settings,
    team: Team,
    nextflow: Nextflow,
    receiver: Receiver,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    created = await compute_client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["run.started", "run.completed", "run.failed"]},
        headers=team.headers("editor"),
    )
    assert created.status_code == 201, created.text
    workflow_id = await nextflow.started()
    for step in ("progress", "complete"):
        response = await nextflow.put(workflow_id, step, payload(step))
        assert response.status_code == 200, response.text

    later: Callable[[], datetime] = lambda: datetime.now(UTC) + timedelta(seconds=1)  # noqa: E731
    loop = deliverer(compute_settings, lambda: session_factory, clock=later, concurrency=1)
    assert await loop.drain() == 2
    events = [json.loads(got.body) for got in receiver.received]
    assert [event["type"] for event in events] == ["run.started", "run.completed"]
    assert {event["data"]["source"] for event in events} == {"external"}
    assert events[1]["data"]["name"] == "maniac_hopper"


@pytest.mark.requires_path(WEBLOG, "the weblog fixtures")
async def test_weblog_started_event_sends_run_started(
    compute_client: httpx.AsyncClient,
    compute_settings: Settings,
    team: Team,
    hello: Any,
    launch: Launch,
    set_run: SetRun,
    receiver: Receiver,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    created = await compute_client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": ["run.started"]},
        headers=team.headers("editor"),
    )
    assert created.status_code == 201, created.text
    run_id = (await launch()).json()["id"]
    await set_run(run_id, state="INITIALIZING")
    started = await compute_client.post(
        f"/api/v1/runs/{run_id}/events",
        params={"token": weblog_token(compute_settings, uuid.UUID(run_id))},
        content=(WEBLOG / "01-started.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    assert started.status_code < 300, started.text

    later: Callable[[], datetime] = lambda: datetime.now(UTC) + timedelta(seconds=1)  # noqa: E731
    loop = deliverer(compute_settings, lambda: session_factory, clock=later, concurrency=1)
    assert await loop.drain() == 1
    [event] = [json.loads(got.body) for got in receiver.received]
    assert event["type"] == "run.started" and event["data"]["run_id"] == run_id
    assert event["data"]["previous_state"] == "INITIALIZING"
