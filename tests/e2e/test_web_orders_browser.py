"""The orders pages in headless Chromium against the HTTPS stack, as a lab manager meets them:
create an order, find its samples with the picker and add them with a role, preview and
download the samplesheet, move the order through the status machine by the only moves miner
allows, read its history. axe-core checks each page for WCAG 2.1 A/AA violations; no token
reaches the browser; a script-laden note is rendered as text.

The README's pictures (``make screenshots``) are of an order of friendly data made for them,
never of the script-laden one."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from support.browser import (
    CHROMIUM,
    JWT,
    UI_TIMEOUT_MS,
    axe_violations,
    log_in,
    screenshot,
    watch_pages,
)
from support.live import LiveStack

XSS = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def batch(https_stack: LiveStack) -> str:
    """Two samples with their FASTQs uploaded, named after a batch of this module's own (the
    stack is shared by the session's tests)."""
    https_stack.register_hello()
    batch = f"B{secrets.token_hex(3)}"
    with https_stack.client("miner") as miner:
        for name in (f"{batch}-T", f"{batch}-N"):
            paths = {}
            for read in (1, 2):
                paths[f"fastq_{read}"] = f"raw/{name}_R{read}.fastq.gz"
                https_stack.upload(paths[f"fastq_{read}"], b"@r1\nACGT\n+\nIIII\n")
            created = miner.post(
                "/api/v1/samples",
                json={"display_id": name, "files": [{"paths": paths}]},
                headers=https_stack.headers,
            )
            assert created.status_code == 201, created.text
    return batch


@dataclass(frozen=True)
class ReadmeOrder:
    id: str
    display_id: str
    patient: str


@pytest.fixture(scope="module")
def readme_order(https_stack: LiveStack) -> ReadmeOrder:
    """What the README shows of orders: a patient's tumour and normal RNA-seq, a note in plain
    words, analysed (so its history has a move and a run). Its number is random, so a
    rerun on the same stack makes another."""
    https_stack.register_fake("rnaseq", "RNA-seq quantification")
    number = secrets.randbelow(900) + 100
    order_name, patient = f"ORD-{datetime.now(UTC):%Y}-{number}", f"PT-{number}"
    samples = []
    with https_stack.client("miner") as miner:
        for name, role in ((f"{patient}-T", "tumour"), (f"{patient}-N", "normal")):
            paths = {}
            for read in (1, 2):
                paths[f"fastq_{read}"] = f"fastq/{name}_R{read}.fastq.gz"
                https_stack.upload(paths[f"fastq_{read}"], b"@r1\nACGT\n+\nIIII\n")
            sample = miner.post(
                "/api/v1/samples",
                json={
                    "display_id": name,
                    "sample_type": "somatic" if role == "tumour" else "germline",
                    "tissue": "liver" if role == "tumour" else "blood",
                    "files": [{"lane": "L001", "paths": paths}],
                },
                headers=https_stack.headers,
            )
            assert sample.status_code == 201, sample.text
            samples.append({"sample_id": sample.json()["id"], "role": role})
        order = miner.post(
            "/api/v1/orders",
            json={
                "display_id": order_name,
                "pipeline": "rnaseq",
                "params": {"genome": "GRCh38", "trimmer": "fastp"},
                "priority": "high",
                "notes": "Liver biopsy and blood of the same patient. Please compare expression "
                "in the tumour against the normal tissue.",
                "tags": ["rna-seq", "liver"],
                "samples": samples,
            },
            headers=https_stack.headers,
        )
        assert order.status_code == 201, order.text
        moved = miner.post(
            f"/api/v1/orders/{order.json()['id']}/transition",
            json={"to": "analyzing", "note": "Both samples passed QC."},
            headers=https_stack.headers,
        )
        assert moved.status_code == 200, moved.text
    return ReadmeOrder(order.json()["id"], order_name, patient)


def moves(page: Page) -> list[str]:
    buttons = page.locator("form.moves button[name=to]")
    return [buttons.nth(i).get_attribute("value") or "" for i in range(buttons.count())]


def test_create_fill_preview_download_and_move_an_order(
    chromium: Browser,
    https_stack: LiveStack,
    batch: str,
    readme_order: ReadmeOrder,
    tmp_path: Path,
) -> None:
    web = https_stack.urls["web"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    bodies, errors = watch_pages(page, web)
    violations: dict[str, list[str]] = {}
    log_in(page, https_stack)

    # The list, then a new order.
    page.get_by_role("link", name="Orders", exact=True).click()
    expect(page).to_have_url(f"{web}/orders")
    violations["orders"] = axe_violations(page)
    page.get_by_role("link", name="New order").click()
    page.get_by_label("Order id").fill(f"{batch}-ORDER")
    page.locator("#order-pipeline").fill("hello")
    page.get_by_label("Notes").fill(XSS)
    violations["new order"] = axe_violations(page)
    page.get_by_role("button", name="Create order").click()
    expect(page.locator("h1 .order-name")).to_have_text(f"{batch}-ORDER")
    order_url = page.url
    expect(page.locator("dd.notes")).to_have_text(XSS)
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("main img").count() == 0

    # The picker finds the batch's samples as one types (htmx); both added as tumour/normal.
    # (htmx starts once the page has loaded: typing before then would go unheard.)
    page.wait_for_load_state()
    page.get_by_label("Find the project's samples").fill(f"{batch}-T")
    expect(page.locator("#picker-results legend")).to_contain_text(f"{batch}-T")
    page.get_by_label(f"{batch}-T").check()
    page.get_by_label("Role of the samples checked above").fill("tumour")
    page.get_by_role("button", name="Add the checked samples").click()
    expect(page.get_by_role("link", name=f"{batch}-T", exact=True)).to_be_visible()
    page.wait_for_load_state()
    page.get_by_label("Find the project's samples").fill(f"{batch}-N")
    expect(page.locator("#picker-results legend")).to_contain_text(f"{batch}-N")
    page.get_by_label(f"{batch}-N").check()
    page.get_by_label("Role of the samples checked above").fill("normal")
    page.get_by_role("button", name="Add the checked samples").click()
    expect(page.locator("table.order-samples caption")).to_have_text("2 samples")
    rows = page.locator("table.order-samples tbody tr")
    expect(rows.nth(0)).to_contain_text("tumour")
    expect(rows.nth(1)).to_contain_text("normal")
    expect(page.get_by_role("link", name=f"{batch}-N", exact=True)).to_have_attribute(
        "href", re.compile(r"^/samples/[0-9a-f-]{36}$")
    )

    # Only the moves miner allows from 'created'.
    assert moves(page) == ["analyzing", "cancelled"]
    violations["order"] = axe_violations(page)

    # The samplesheet: miner's CSV as a table, and the CSV itself as the download.
    page.get_by_role("link", name="Preview the samplesheet").click()
    expect(page.locator("table.samplesheet caption")).to_contain_text("2 rows")
    expect(page.locator("table.samplesheet tbody")).to_contain_text(f"{batch}-T")
    violations["samplesheet"] = axe_violations(page)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the samplesheet (CSV)").click()
    download = download_info.value
    order_id = order_url.rsplit("/", 1)[1]
    with https_stack.client("miner") as miner:
        from_miner = miner.get(
            f"/api/v1/orders/{order_id}/samplesheet", headers=https_stack.headers
        )
    assert download.suggested_filename == f"{batch}-ORDER.samplesheet.csv"
    saved = tmp_path / "sheet.csv"
    download.save_as(saved)
    assert saved.read_bytes() == from_miner.content
    assert from_miner.text.splitlines()[0].startswith("sample,fastq_1,fastq_2")

    # Through the status machine. The run analyzing starts may end (and move the order to
    # review by itself) at any time: the moves offered are read with the status they go with.
    page.goto(order_url)
    page.get_by_role("button", name="Move to analyzing").click()
    status = page.locator("#order-status").inner_text()
    assert status in ("analyzing", "review")
    expected = {
        "analyzing": ["review", "sign_off", "cancelled"],
        "review": ["sign_off", "cancelled"],
    }
    assert moves(page) == expected[status]
    page.get_by_role("button", name="Move to sign off").click()
    expect(page.locator("#order-status")).to_have_text("sign off")
    assert moves(page) == ["completed", "cancelled"]
    page.get_by_label("Note").fill("signed by the browser test")
    page.get_by_role("button", name="Move to completed").click()
    expect(page.locator("#order-status")).to_have_text("completed")
    assert moves(page) == []
    history = page.locator("table.history tbody tr")
    expect(history.last).to_contain_text("signed by the browser test")
    expect(history.last).to_contain_text("you")
    assert history.count() >= 3
    violations["order completed"] = axe_violations(page)

    # For the README: the friendly order, its facts, then (at the page's end) its samples, the
    # picker finding the patient's, its samplesheet and history.
    page.goto(f"{web}/orders/{readme_order.id}?q={readme_order.patient}")
    expect(page.locator("h1 .order-name")).to_have_text(readme_order.display_id)
    expect(page.locator("table.order-samples caption")).to_have_text("2 samples")
    expect(page.locator("#picker-results legend")).to_contain_text("(2)")
    expect(page.locator("table.history")).to_contain_text("Both samples passed QC.")
    screenshot(page, "order")
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    screenshot(page, "order-history")

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    assert errors == []
    leaked = [body[:200] for body in bodies if JWT.search(body)]
    assert leaked == [], "an access token reached the browser"
