"""Webhooks end to end: real processes on a committed database. compute's worker delivers a
run's event, woken by the trigger's NOTIFY, and a worker killed (SIGKILL) between a failed
attempt and its retry loses nothing: the next worker sends it. miner's own loop (a lifespan
task of its API process) delivers an order's move."""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as ReferenceVerifier

from support.live import LiveStack, wait_until
from support.webhook_receiver import Receiver, receiver

__all__ = ["receiver"]

# The stack's webhook settings (support/shared_stacks.py, every shared stack's): receivers on
# 127.0.0.1, a retry 1 s (±20 %) after a failure, no sweep (deliveries are woken by NOTIFY and
# by their due time).
pytestmark = pytest.mark.timeout(300)


def create_webhook(stack: LiveStack, service: str, url: str, events: list[str]) -> dict[str, Any]:
    with stack.client(service) as client:
        response = client.post(
            "/api/v1/webhooks", json={"url": url, "events": events}, headers=stack.headers
        )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def deliveries(stack: LiveStack, service: str, webhook_id: str) -> list[dict[str, Any]]:
    with stack.client(service) as client:
        response = client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=stack.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestWorkerDelivery:
    def test_worker_killed_mid_backoff_loses_nothing(
        self, stack: LiveStack, receiver: Receiver
    ) -> None:
        receiver.answers(500, 200)
        webhook = create_webhook(stack, "compute", receiver.url, ["run.completed"])
        worker = stack.start_worker()
        try:
            with stack.client("compute") as compute:
                launched = compute.post(
                    "/api/v1/runs",
                    json={"pipeline": "hello", "input": {"path": "sheets/one.csv"}},
                    headers=stack.headers,
                )
            assert launched.status_code == 201, launched.text
            run_id = launched.json()["id"]
            stack.wait_state(run_id, {"COMPLETE"})

            def first_attempt_recorded() -> bool:
                items = deliveries(stack, "compute", webhook["id"])
                return bool(items) and items[0]["attempts"] == 1

            wait_until(first_attempt_recorded, timeout=30, what="the first (failed) attempt")
        finally:
            worker.stop(signal.SIGKILL)
        [pending] = deliveries(stack, "compute", webhook["id"])
        assert pending["state"] == "PENDING" and pending["next_attempt_at"] is not None

        second = stack.start_worker("worker-2")
        try:

            def delivered() -> bool:
                return deliveries(stack, "compute", webhook["id"])[0]["state"] == "SUCCEEDED"

            wait_until(delivered, timeout=30, what="the retry by the next worker")
        finally:
            assert second.stop() == 0
        assert len(receiver.received) == 2
        assert (
            receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
        )
        event = ReferenceVerifier(webhook["secret"]).verify(
            receiver.received[1].body, receiver.received[1].headers
        )
        assert event["type"] == "run.completed" and event["data"]["run_id"] == run_id
        [done] = deliveries(stack, "compute", webhook["id"])
        assert [a["status_code"] for a in done["attempt_log"]] == [500, 200]


class TestMinerDelivery:
    def test_order_move_delivered_by_miner(self, stack: LiveStack, receiver: Receiver) -> None:
        for name in ("S1_R1.fastq.gz", "S1_R2.fastq.gz"):
            stack.upload(f"raw/{name}", b"@r1\nACGT\n+\nIIII\n")
        webhook = create_webhook(stack, "miner", receiver.url, ["order.transitioned"])
        with stack.client("miner") as miner:
            sample = miner.post(
                "/api/v1/samples",
                json={
                    "display_id": "S1",
                    "files": [
                        {"paths": {"fastq_1": "raw/S1_R1.fastq.gz",
                                   "fastq_2": "raw/S1_R2.fastq.gz"}}
                    ],
                },
                headers=stack.headers,
            )  # fmt: skip
            assert sample.status_code == 201, sample.text
            order = miner.post(
                "/api/v1/orders",
                json={
                    "display_id": "ORD-1",
                    "pipeline": "hello",
                    "samples": [{"sample_id": sample.json()["id"], "role": "proband"}],
                },
                headers=stack.headers,
            )
            assert order.status_code == 201, order.text
            moved = miner.post(
                f"/api/v1/orders/{order.json()['id']}/transition",
                json={"to": "cancelled"},
                headers=stack.headers,
            )
            assert moved.status_code == 200, moved.text

        wait_until(lambda: receiver.received, timeout=30, what="miner's delivery")
        [got] = receiver.received
        event = ReferenceVerifier(webhook["secret"]).verify(got.body, got.headers)
        assert event == json.loads(got.body)
        assert event["data"]["to_status"] == "cancelled"
        assert event["data"]["display_id"] == "ORD-1"
