"""What the Tower payloads carry beside the tasks: the progress counters (progress, heartbeat,
complete) and the complete call's per-process metrics, kept on the run (migration 0008)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from nfhub_compute.models import Run
from support.tower import Nextflow, RunsOf, payload


async def kept(session_factory: Any, run_id: str) -> tuple[Any, Any, Any]:
    async with session_factory() as session:
        row = (
            await session.execute(
                select(Run.progress, Run.progress_instant, Run.process_metrics).where(
                    Run.id == uuid.UUID(run_id)
                )
            )
        ).one()
    return row[0], row[1], row[2]


class TestProgress:
    async def test_progress_and_metrics_are_kept_from_the_full_sequence(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        progress = payload("progress")
        assert (await nextflow.put(workflow_id, "progress", progress)).status_code == 200
        [run] = await runs_of()

        counters, instant, metrics = await kept(session_factory, run["id"])
        assert counters == progress["progress"]
        assert instant == progress["instant"]
        assert metrics is None

        complete = payload("complete")
        assert (await nextflow.put(workflow_id, "complete", complete)).status_code == 200

        counters, instant, metrics = await kept(session_factory, run["id"])
        assert counters == complete["progress"]
        assert counters["succeeded"] == 3
        assert metrics == complete["metrics"]
        assert metrics[0]["process"] == "FASTQC"

    async def test_a_late_progress_never_replaces_newer_counters(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        newer, older = payload("heartbeat"), payload("progress")
        newer["progress"]["succeeded"] = 42
        assert newer["instant"] > older["instant"]

        for body, step in ((newer, "heartbeat"), (older, "progress")):
            assert (await nextflow.put(workflow_id, step, body)).status_code == 200

        [run] = await runs_of()
        counters, instant, _ = await kept(session_factory, run["id"])
        assert counters["succeeded"] == 42
        assert instant == newer["instant"]

    async def test_a_complete_without_progress_keeps_the_last_counters(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        progress = payload("progress")
        await nextflow.put(workflow_id, "progress", progress)
        complete = payload("complete")
        del complete["progress"]

        assert (await nextflow.put(workflow_id, "complete", complete)).status_code == 200

        [run] = await runs_of()
        assert run["state"] == "COMPLETE"
        counters, _, metrics = await kept(session_factory, run["id"])
        assert counters == progress["progress"]
        assert metrics == complete["metrics"]

    async def test_progress_that_is_not_an_object_is_refused_and_keeps_nothing(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        body = payload("progress")
        body["progress"] = [1, 2, 3]

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 422
        [run] = await runs_of()
        assert await kept(session_factory, run["id"]) == (None, None, None)

    async def test_an_instant_past_a_bigint_is_refused_and_keeps_nothing(
        self, nextflow: Nextflow, runs_of: RunsOf, session_factory: Any
    ) -> None:
        workflow_id = await nextflow.started()
        body = payload("progress")
        body["instant"] = 2**70  # past runs.progress_instant (BIGINT): not a failed write

        response = await nextflow.put(workflow_id, "progress", body)

        assert response.status_code == 422, response.text
        [run] = await runs_of()
        assert await kept(session_factory, run["id"]) == (None, None, None)
