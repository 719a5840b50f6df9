"""An external run's silence: the reconciler has no backend to ask, only the time since its
last report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.config import Settings
from nfhub_compute.worker.dispatcher import Dispatcher
from nfhub_compute.worker.reconciler import Reconciler
from support.tower import Nextflow, RunsOf, payload


@pytest.fixture
def reconciler(session_factory: Any, compute_settings: Settings) -> Reconciler:
    settings = compute_settings.model_copy(update={"SILENCE_DEADLINE_SECONDS": 60})
    backend = LocalBackend(settings.WORK_ROOT)
    return Reconciler(
        session_factory, backend, settings, Dispatcher(session_factory, backend, settings, "test")
    )


def long_ago(minutes: int = 10) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


class TestSilence:
    async def test_a_silent_run_becomes_unknown_and_a_heartbeat_wakes_it(
        self, nextflow: Nextflow, runs_of: RunsOf, set_run: Any, reconciler: Reconciler
    ) -> None:
        workflow_id = await nextflow.started()
        [run] = await runs_of()
        await set_run(run["id"], last_event_at=long_ago(), running_at=long_ago())

        await reconciler.reconcile_once()

        [silent] = await runs_of()
        assert silent["state"] == "UNKNOWN"
        assert "No report from Nextflow" in silent["state_reason"]
        response = await nextflow.put(workflow_id, "heartbeat", payload("heartbeat"))
        assert response.status_code == 200, response.text
        [awake] = await runs_of()
        assert (awake["state"], awake["state_reason"]) == ("RUNNING", None)

    async def test_a_run_that_reported_recently_stays_running(
        self, nextflow: Nextflow, runs_of: RunsOf, reconciler: Reconciler
    ) -> None:
        await nextflow.started()

        await reconciler.reconcile_once()

        [run] = await runs_of()
        assert run["state"] == "RUNNING"

    async def test_a_run_created_and_never_begun_ends_in_system_error(
        self,
        nextflow: Nextflow,
        runs_of: RunsOf,
        set_run: Any,
        reconciler: Reconciler,
        compute_client: httpx.AsyncClient,
    ) -> None:
        workflow_id = (await nextflow.create()).json()["workflowId"]
        [run] = await runs_of()
        await set_run(run["id"], last_event_at=long_ago(), initializing_at=long_ago())

        await reconciler.reconcile_once()

        [ended] = await runs_of()
        assert ended["state"] == "SYSTEM_ERROR"
        assert ended["finished_at"] is not None
        late = await nextflow.put(workflow_id, "heartbeat", payload("heartbeat"))
        assert late.status_code == 200
        [still] = await runs_of()
        assert still["state"] == "SYSTEM_ERROR"
