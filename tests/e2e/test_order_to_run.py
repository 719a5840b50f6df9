"""A lab's path through nfhub over real HTTPS between real services: subjects, samples with
FASTQs uploaded through signed URLs, an order, its samplesheet, the move to analyzing, the run
compute starts on it (the nextflow stand-in, through a worker), its outputs, and the order
following its run's end by itself (review on success, the failure recorded otherwise)."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from support.live import LiveStack, wait_until

pytestmark = [
    pytest.mark.timeout(300),
    # HTTPS; no sweep during the tests: an order that moves, moves on compute's announcement.
    # A stack shared by the modules of these settings (support/shared_stacks.py).
    pytest.mark.live_stack(tls=True, env={"MINER_RUN_SWEEP_SECONDS": "3600"}),
]


@pytest.fixture(scope="module")
def stack(shared_stack: LiveStack) -> LiveStack:
    return shared_stack


def call(stack: LiveStack, service: str, method: str, url: str, **kwargs: Any) -> Any:
    with stack.client(service) as client:
        response = client.request(method, url, headers=stack.headers, **kwargs)
    assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text}"
    return (
        response.json()
        if response.content and "json" in response.headers.get("content-type", "")
        else response
    )


def test_subjects_samples_order_samplesheet_run(stack: LiveStack) -> None:
    stack.register_hello()
    mother = call(
        stack, "miner", "POST", "/api/v1/subjects", json={"display_id": "FAM1-M", "sex": "female"}
    )
    child = call(
        stack, "miner", "POST", "/api/v1/subjects", json={"display_id": "FAM1-P", "sex": "male"}
    )
    samples = []
    for name, subject, role in (("S-MOTHER", mother, "mother"), ("S-PROBAND", child, "proband")):
        paths = {}
        for read in (1, 2):
            path = f"raw/{name}_R{read}.fastq.gz"
            stack.upload(path, f"@{name}/{read}\nACGT\n+\nIIII\n".encode())
            paths[f"fastq_{read}"] = path
        sample = call(
            stack,
            "miner",
            "POST",
            "/api/v1/samples",
            json={
                "display_id": name,
                "subject_id": subject["id"],
                "files": [{"paths": paths}],
            },
        )
        samples.append({"sample_id": sample["id"], "role": role})
    order = call(
        stack,
        "miner",
        "POST",
        "/api/v1/orders",
        json={
            "display_id": "ORD-E2E",
            "pipeline": "hello",
            "params": {"greeting": "hi"},
            "samples": samples,
        },
    )

    sheet = call(stack, "miner", "GET", f"/api/v1/orders/{order['id']}/samplesheet")
    rows = list(csv.DictReader(io.StringIO(sheet.text)))
    assert [row["sample"] for row in rows] == ["S-MOTHER", "S-PROBAND"]
    # The user's copy names files as the project does; the server's layout stays private.
    assert rows[0]["fastq_1"] == "raw/S-MOTHER_R1.fastq.gz"

    moved = call(
        stack, "miner", "POST", f"/api/v1/orders/{order['id']}/transition", json={"to": "analyzing"}
    )
    # The copy written for the run has the paths Nextflow opens.
    project = stack.storage / "projects" / stack.project_id
    run_sheet = list(
        csv.DictReader(io.StringIO((project / "orders/ORD-E2E/samplesheet.csv").read_text()))
    )
    assert run_sheet[0]["fastq_1"] == str(project / "raw/S-MOTHER_R1.fastq.gz")
    assert moved["run"]["state"] == "QUEUED"  # the answer shows the run (issue 19.18)
    run = call(stack, "compute", "GET", f"/api/v1/runs/{moved['run']['id']}")
    assert run["input"] == {"path": "orders/ORD-E2E/samplesheet.csv", "order_id": order["id"]}
    assert run["state"] == "QUEUED"
    by_order = call(stack, "compute", "GET", f"/api/v1/runs/by-order/{order['id']}")
    assert [r["id"] for r in by_order["items"]] == [run["id"]]

    worker = stack.start_worker()
    try:
        done = stack.wait_state(run["id"], {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"})
    finally:
        worker.stop()
    assert done["state"] == "COMPLETE", done
    # Only Nextflow's `completed` weblog event sets this: it reached compute over HTTPS.
    assert done["workflow_success"] is True
    assert done["tasks"]["succeeded"] == 3  # FASTQC for each sample of the sheet, then MULTIQC
    # Nobody moves the order: compute announces the run's end, miner moves it to review.
    shown = recorded(stack, "ORD-E2E", "review")
    assert shown["run"] == {
        "id": run["id"],
        "state": "COMPLETE",
        "state_reason": None,
        "finished_at": done["finished_at"],
    }
    history = call(stack, "miner", "GET", f"/api/v1/orders/{order['id']}/history")
    assert [(h["to_status"], h["actor_id"]) for h in history["items"]][-1] == ("review", "system")
    outputs = call(
        stack, "compute", "GET", f"/api/v1/runs/{run['id']}/outputs", params={"path": "fastqc"}
    )
    names = sorted(item["name"] for item in outputs["items"])
    assert names == ["S-MOTHER_fastqc.html", "S-PROBAND_fastqc.html"]
    assert outputs["items"][0]["download_url"].startswith("https://")
    report = httpx.get(outputs["items"][0]["download_url"], timeout=10, verify=stack.verify)
    assert report.status_code == 200 and b"FASTQC" in report.content


def recorded(stack: LiveStack, display_id: str, status: str, seconds: float = 10.0) -> Any:
    """The order, from the list (which shows only what miner recorded, never asks compute),
    once it has ``status`` and its run's end: seconds at most, as miner hears compute at once
    (its sweep would take an hour here)."""

    def reached() -> Any:
        listed = call(stack, "miner", "GET", "/api/v1/orders", params={"status": status})
        found = [o for o in listed["items"] if o["display_id"] == display_id]
        return found[0] if found and found[0]["run"]["finished_at"] is not None else None

    return wait_until(reached, timeout=seconds, interval=0.2, what=f"{display_id} {status}")


def analyzing(stack: LiveStack, name: str, params: dict[str, Any]) -> str:
    """An order of one new sample (``S-<name>``) for hello, moved to analyzing; its run id."""
    stack.register_hello()
    paths = {}
    for read in (1, 2):
        paths[f"fastq_{read}"] = path = f"raw/S-{name}_R{read}.fastq.gz"
        stack.upload(path, f"@S-{name}/{read}\nACGT\n+\nIIII\n".encode())
    sample = call(
        stack, "miner", "POST", "/api/v1/samples",
        json={"display_id": f"S-{name}", "files": [{"paths": paths}]},
    )  # fmt: skip
    order = call(
        stack, "miner", "POST", "/api/v1/orders",
        json={
            "display_id": f"ORD-{name}",
            "pipeline": "hello",
            "params": params,
            "samples": [{"sample_id": sample["id"]}],
        },
    )  # fmt: skip
    moved = call(
        stack, "miner", "POST", f"/api/v1/orders/{order['id']}/transition", json={"to": "analyzing"}
    )
    run_id: str = moved["run"]["id"]
    return run_id


def test_a_failed_run_is_recorded_on_its_order(stack: LiveStack) -> None:
    run_id = analyzing(stack, "FAIL", {"fail_process": "FASTQC"})

    worker = stack.start_worker()
    try:
        done = stack.wait_state(run_id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"})
        assert done["state"] == "EXECUTOR_ERROR", done
        shown = recorded(stack, "ORD-FAIL", "analyzing")
    finally:
        worker.stop()
    assert shown["run"]["state"] == "EXECUTOR_ERROR"
    assert shown["run"]["state_reason"] == done["state_reason"]
    assert "FASTQC" in shown["run"]["state_reason"]
    assert shown["allowed_transitions"] == ["review", "sign_off", "cancelled"]


def test_a_run_that_ended_while_miner_was_down_is_caught_at_its_start(stack: LiveStack) -> None:
    run_id = analyzing(stack, "LATE", {})
    miner = next(p for p in stack.processes if p.name == "miner" and p.alive())
    miner.stop()  # nobody hears compute's announcement

    worker = stack.start_worker()
    try:
        assert stack.wait_state(run_id, {"COMPLETE", "EXECUTOR_ERROR"})["state"] == "COMPLETE"
    finally:
        worker.stop()
    stack.wait_ready(stack.start_service("miner"))

    assert recorded(stack, "ORD-LATE", "review")["run"]["state"] == "COMPLETE"
