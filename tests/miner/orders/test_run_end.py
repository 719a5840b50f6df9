"""The end of an order's run moves the order (COMPLETE → review) or records the failure on it
(it stays analyzing), once however often it is heard; orders a user moved keep their status.

In-process: the follower is called directly (the test's transaction never commits, so no
NOTIFY is delivered); tests/e2e/test_order_to_run.py shows the announcement across processes.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from nfhub_miner.models import audit_events
from nfhub_miner.orders.follower import RunFollower, RunFollowerTask
from nfhub_miner.orders.states import OrderStatus
from nfhub_shared.errors import ServiceUnavailable
from support.orders import move

FINISHED = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
ENDS = [
    # (run state, reason, the order's status after, a system move in the history)
    ("COMPLETE", None, "review", True),
    ("EXECUTOR_ERROR", "Process `FASTQC (S1)` terminated with an error exit status (1)",
     "analyzing", False),
    ("SYSTEM_ERROR", "The run was lost: no such process.", "analyzing", False),
    ("CANCELED", "Canceled.", "analyzing", False),
]  # fmt: skip


@dataclass
class Lab:
    """miner (in-process, compute behind it), a project's team, and the follower of runs."""

    app: FastAPI
    client: httpx.AsyncClient
    team: Any
    set_run: Any

    @property
    def follower(self) -> RunFollower:
        found: RunFollower = self.app.state.run_follower
        return found

    async def move(self, order_id: str, to: str, role: str = "editor") -> dict[str, Any]:
        response = await move(self.client, self.team, order_id, to, role)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def analyze(self, order_id: str, **run_values: Any) -> uuid.UUID:
        """Move the order to analyzing; its run then set to ``run_values`` (as compute would)."""
        run_id = uuid.UUID((await self.move(order_id, "analyzing"))["run"]["id"])
        if run_values:
            await self.set_run(run_id, **run_values)
        return run_id

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.client.get(
            f"/api/v1/orders/{order_id}", headers=self.team.headers("viewer")
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def history(self, order_id: str) -> list[tuple[str, ...]]:
        response = await self.client.get(
            f"/api/v1/orders/{order_id}/history", headers=self.team.headers("viewer")
        )
        return [(h["from_status"], h["to_status"], h["actor_id"]) for h in response.json()["items"]]


@pytest.fixture
def lab(miner_app: FastAPI, miner_client: httpx.AsyncClient, team: Any, set_run: Any) -> Lab:
    return Lab(miner_app, miner_client, team, set_run)


class TestRunEnd:
    @pytest.mark.parametrize(("state", "reason", "status", "moved"), ENDS, ids=[e[0] for e in ENDS])
    async def test_the_end_moves_or_is_recorded(
        self,
        lab: Lab,
        order: dict[str, Any],
        session_factory: Any,
        state: str,
        reason: str | None,
        status: str,
        moved: bool,
    ) -> None:
        run_id = await lab.analyze(
            order["id"], state=state, state_reason=reason, finished_at=FINISHED
        )

        assert await lab.follower.settle([run_id]) == 1

        after = await lab.order(order["id"])
        assert after["status"] == status
        assert after["run"] == {
            "id": str(run_id),
            "state": state,
            "state_reason": reason,
            "finished_at": "2026-12-07T09:30:00Z",
        }
        steps = await lab.history(order["id"])
        assert steps[1:] == ([("analyzing", "review", "system")] if moved else [])
        listed = await lab.client.get("/api/v1/orders", headers=lab.team.headers("viewer"))
        assert listed.json()["items"][0]["run"]["state"] == state  # no compute call on lists
        async with session_factory() as session:
            events = (
                await session.execute(
                    select(audit_events.c.action, audit_events.c.actor_kind)
                    .where(audit_events.c.resource_id == order["id"])
                    .order_by(audit_events.c.occurred_at)
                )
            ).all()
        assert [tuple(e) for e in events if e[1] == "system"] == [
            ("order.run_end", "system"),
            *([("order.transition", "system")] if moved else []),
        ]

    async def test_hearing_the_end_twice_changes_nothing(
        self, lab: Lab, order: dict[str, Any]
    ) -> None:
        run_id = await lab.analyze(order["id"], state="COMPLETE", finished_at=FINISHED)

        first = await lab.follower.settle([run_id, run_id])
        again = await lab.follower.settle([run_id])
        swept = await lab.follower.sweep()

        assert (first, again, swept) == (1, 0, 0)
        assert len(await lab.history(order["id"])) == 2

    async def test_a_run_still_going_changes_nothing(self, lab: Lab, order: dict[str, Any]) -> None:
        run_id = await lab.analyze(order["id"], state="RUNNING")

        assert await lab.follower.settle([run_id, uuid.uuid4()]) == 0

        after = await lab.order(order["id"])
        assert (after["status"], after["run"]["state"]) == ("analyzing", "RUNNING")

    @pytest.mark.parametrize("status", [OrderStatus.review, OrderStatus.sign_off])
    @pytest.mark.parametrize("state", ["COMPLETE", "EXECUTOR_ERROR"])
    async def test_an_order_a_user_moved_keeps_its_status(
        self, lab: Lab, order: dict[str, Any], status: OrderStatus, state: str
    ) -> None:
        run_id = await lab.analyze(order["id"])
        await lab.move(order["id"], status.value)
        await lab.set_run(run_id, state=state, finished_at=FINISHED)

        assert await lab.follower.settle([run_id]) == 1

        after = await lab.order(order["id"])
        assert (after["status"], after["run"]["state"]) == (status.value, state)
        editor = str(lab.team.editor.id)
        assert [step[2] for step in await lab.history(order["id"])] == [editor, editor]

    async def test_a_cancelled_order_stays_cancelled(self, lab: Lab, order: dict[str, Any]) -> None:
        run_id = await lab.analyze(order["id"])
        await lab.move(order["id"], "cancelled", "admin")
        await lab.set_run(run_id, state="COMPLETE", finished_at=FINISHED)

        await lab.follower.settle([run_id])

        assert (await lab.order(order["id"]))["status"] == "cancelled"

    async def test_a_later_transition_answers_the_run_state(
        self, lab: Lab, order: dict[str, Any]
    ) -> None:
        await lab.analyze(order["id"], state="RUNNING")

        moved = await lab.move(order["id"], "review")

        assert moved["run"]["state"] == "RUNNING"


class TestSweep:
    async def test_asks_compute_about_every_analyzing_order_in_batches(
        self, lab: Lab, make: Any, fastqs: Any, hello: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        r1, r2 = fastqs("S1_R1.fastq.gz", "S1_R2.fastq.gz")
        sample = await make(
            "samples", display_id="S1", files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
        )
        ends = {"ORD-OK": "COMPLETE", "ORD-FAIL": "EXECUTOR_ERROR", "ORD-RUNNING": "RUNNING"}
        orders = {}
        for name, state in ends.items():
            created = await make(
                "orders", display_id=name, pipeline="hello", samples=[{"sample_id": sample["id"]}]
            )
            await lab.analyze(created["id"], state=state)
            orders[name] = created["id"]
        # One run a call: the sweep pages through the orders and asks compute about each batch.
        monkeypatch.setattr("nfhub_miner.orders.follower.RUN_STATES_BATCH", 1)

        assert await lab.follower.sweep() == 2

        statuses = {name: (await lab.order(oid))["status"] for name, oid in orders.items()}
        assert statuses == {"ORD-OK": "review", "ORD-FAIL": "analyzing", "ORD-RUNNING": "analyzing"}
        assert await lab.follower.sweep() == 0

    async def test_compute_down_is_service_unavailable_and_changes_nothing(
        self, lab: Lab, order: dict[str, Any]
    ) -> None:
        await lab.analyze(order["id"], state="COMPLETE")
        lab.app.state.compute_client.base_url = "http://nowhere.test"  # not on the transport

        with pytest.raises(ServiceUnavailable):
            await lab.follower.sweep()

        assert (await lab.order(order["id"]))["status"] == "analyzing"


class TestNotifications:
    @pytest.mark.parametrize(
        "payload",
        ["", "not json", "[]", "{}", '{"run_id": "nope"}', '{"run_id": null}'],
        ids=["empty", "text", "list", "no-run", "bad-uuid", "null"],
    )
    async def test_an_unreadable_notification_is_dropped(self, lab: Lab, payload: str) -> None:
        task = RunFollowerTask(lab.follower, "postgresql://unused/db", 60)

        task._heard(payload)

        assert task.queue.empty()

    async def test_runs_heard_of_are_taken_in_one_batch(self, lab: Lab) -> None:
        task = RunFollowerTask(lab.follower, "postgresql://unused/db", 60)
        heard = [uuid.uuid4() for _ in range(3)]
        for run_id in heard:
            task._heard(f'{{"run_id": "{run_id}", "project_id": "{uuid.uuid4()}", "state": "X"}}')

        assert await task._next(0.1) == heard
        assert await task._next(0.01) == []

    async def test_a_run_of_no_order_costs_no_call_to_compute(
        self, lab: Lab, order: dict[str, Any]
    ) -> None:
        run_id = await lab.analyze(order["id"], state="COMPLETE")
        assert await lab.follower.settle([run_id]) == 1
        lab.app.state.compute_client.base_url = "http://nowhere.test"  # any call would fail

        assert await lab.follower.settle([run_id, uuid.uuid4()]) == 0
