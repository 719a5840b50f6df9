"""The subjects and samples pages in headless Chromium against the HTTPS stack: search as you
type, create a subject and a sample for it, edit the sample, import a samplesheet with one bad
row and see miner's error on that row (and nothing imported). axe-core checks each page for
WCAG 2.1 A/AA violations; no access token reaches the browser; script-laden values stay text.

The README's picture (``make screenshots``) is of a small liver study made for it, never of the
script-laden subject.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Browser, expect

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
def readme_study(https_stack: LiveStack) -> str:
    """What the README shows of samples: three patients of a liver study, a tumour (one an FFPE
    block) and a normal sample each, one also a plasma sample. Returns the study's code, random
    so that a rerun on the same stack makes another."""
    study = f"HCC-{secrets.randbelow(9000) + 1000}"
    with https_stack.client("miner") as miner:
        for number, sex in ((1, "female"), (2, "male"), (3, "female")):
            patient = f"{study}-{number:02d}"
            subject = miner.post(
                "/api/v1/subjects",
                json={
                    "display_id": patient,
                    "sex": sex,
                    "diagnosis": "Hepatocellular carcinoma",
                    "tags": [study],
                },
                headers=https_stack.headers,
            )
            assert subject.status_code == 201, subject.text
            samples = [
                (
                    f"{patient}-T",
                    "ffpe" if number == 3 else "somatic",
                    "liver",
                    ["rna-seq", "tumour"],
                ),
                (f"{patient}-N", "germline", "blood", ["rna-seq", "normal"]),
            ]
            if number == 2:
                samples.append((f"{patient}-P", "liquid_biopsy", "plasma", ["cfdna"]))
            for name, sample_type, tissue, tags in samples:
                created = miner.post(
                    "/api/v1/samples",
                    json={
                        "display_id": name,
                        "subject_id": subject.json()["id"],
                        "sample_type": sample_type,
                        "tissue": tissue,
                        "tags": tags,
                        "files": [
                            {
                                "lane": "L001",
                                "paths": {
                                    f"fastq_{read}": f"s3://lab-sequencing/{name}_R{read}.fastq.gz"
                                    for read in (1, 2)
                                },
                            }
                        ],
                    },
                    headers=https_stack.headers,
                )
                assert created.status_code == 201, created.text
    return study


def test_subjects_samples_and_a_samplesheet_import(
    chromium: Browser, https_stack: LiveStack, readme_study: str
) -> None:
    web = https_stack.urls["web"]
    # The stack is the test session's: names of this test's own, found by search.
    tag = secrets.token_hex(3)
    subject_id, sample_id = f"PAT-{tag}", f"S-{tag}"
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    bodies, errors = watch_pages(page, web)
    violations: dict[str, list[str]] = {}
    log_in(page, https_stack)

    # A subject, from the form; miner's refusal first, beside the field.
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Subjects").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Subjects")
    violations["subjects"] = axe_violations(page)
    page.get_by_role("link", name="New subject").click()
    page.get_by_label("Display id").fill(f"{subject_id} with spaces")
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Diagnosis").fill(XSS)
    page.get_by_label("Properties (JSON)").fill('{"site": "Lyon"}')
    page.get_by_role("button", name="Create subject").click()
    expect(page.locator("#subject-display-id-error")).to_be_visible()
    expect(page.get_by_label("Display id")).to_have_attribute("aria-invalid", "true")
    violations["subject refused"] = axe_violations(page)
    page.get_by_label("Display id").fill(subject_id)
    page.get_by_role("button", name="Create subject").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Subject {subject_id}")
    expect(page.locator("dd.prose")).to_have_text(XSS)
    violations["subject"] = axe_violations(page)

    # A sample of it, then edited.
    page.get_by_role("link", name="Add a sample").click()
    expect(page.get_by_label("Subject")).to_have_value(re.compile(r"[0-9a-f-]{36}"))
    page.get_by_label("Display id").fill(sample_id)
    page.get_by_label("Type").select_option("germline")
    page.get_by_label("Tissue").fill("blood")
    page.get_by_label("Files (JSON)").fill(
        '[{"lane": "L001", "paths": {"fastq_1": "s3://lab/R1.fastq.gz"}}]'
    )
    violations["sample form"] = axe_violations(page)
    page.get_by_role("button", name="Create sample").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Sample {sample_id}")
    expect(page.get_by_role("link", name=subject_id)).to_be_visible()
    violations["sample"] = axe_violations(page)
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Tissue").fill("bone marrow")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dl.facts")).to_contain_text("bone marrow")

    # Search as you type: the results change, the address bar follows. (htmx starts once the
    # page has loaded: typing before then would go unheard.)
    nav.get_by_role("link", name="Samples").click()
    expect(page).to_have_url(f"{web}/samples")
    page.wait_for_load_state()
    page.get_by_label("Search", exact=True).fill(tag)
    expect(page.locator("#sample-results caption")).to_have_text("1 sample matching the search")
    expect(page.get_by_role("link", name=sample_id)).to_be_visible()
    expect(page).to_have_url(f"{web}/samples?q={tag}")
    page.get_by_label("Search", exact=True).fill("--")
    expect(page.locator("#sample-q-errors")).not_to_be_empty()
    violations["samples"] = axe_violations(page)
    page.get_by_label("Search", exact=True).fill(tag)
    expect(page.get_by_role("link", name=sample_id)).to_be_visible()

    # An import with one bad row: its error on that row, nothing imported.
    page.get_by_role("link", name="Import a samplesheet").click()
    sheet = (
        "sample,patient,sex,status,fastq_1\n"
        f"I1-{tag},P-{tag},XX,0,s3://lab/I1.fastq.gz\n"
        f"I2-{tag},P-{tag},XX,7,s3://lab/I2.fastq.gz\n"
    )
    page.locator("#import-sheet").set_input_files(
        files=[{"name": "sheet.csv", "mimeType": "text/csv", "buffer": sheet.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Nothing was imported")).to_be_visible()
    expect(page.locator("#import-row-2 .row-errors")).to_contain_text("status '7' is neither")
    expect(page.locator("#import-row-1 .row-errors")).to_have_text("fine")
    violations["import refused"] = axe_violations(page)
    fixed = sheet.replace(",7,", ",1,")
    page.locator("#import-sheet").set_input_files(
        files=[{"name": "sheet.csv", "mimeType": "text/csv", "buffer": fixed.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-result")).to_contain_text("made 2 samples and 1 new subject")
    violations["imported"] = axe_violations(page)

    # For the README: the study's samples, found by a search.
    page.goto(f"{web}/samples")
    page.get_by_label("Search", exact=True).fill(readme_study)
    expect(page.locator("#sample-results caption")).to_have_text("7 samples matching the search")
    screenshot(page, "samples")

    assert page.evaluate("() => window.pwned") is None
    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    # Chromium logs a page answered 4xx (the refused forms, on purpose) as an error.
    refused = re.compile(r"Failed to load resource: the server responded with a status of 4(09|22)")
    assert [e for e in errors if not refused.match(e)] == []
    leaked = [body[:200] for body in bodies if JWT.search(body)]
    assert leaked == [], "an access token reached the browser"
