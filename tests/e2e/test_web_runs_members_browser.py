"""The runs pages and the members page in headless Chromium against the HTTPS stack (issue 23,
points 3 and 7): the runs list filtered by state, pipeline and label, and a run started after
the list was opened showing up on it and finishing there live; a run's task table sorted,
filtered and paged; an output downloaded from the run page, the same bytes as the files API
gives; a run cancelled from its page while another tab of it follows its state and its log
live to the end. Then, as the project's admin, a member added, their role changed, a refusal
shown, the member removed. axe-core on each state reached, no script error, no token in
anything the browser receives.

The runs are made through compute's API (one browser context, no sleeps): the stand-in
``nextflow`` runs ``hello`` with ``task_seconds`` short, and with ``silent_seconds`` for the
run that must keep running until the page cancels it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from support.browser import CHROMIUM, JWT, UI_TIMEOUT_MS, axe_violations, log_in, watch_pages
from support.live import LiveStack

# One task more than the run page shows at once (50), so the task table has a second page.
SAMPLES = 51
TASKS = SAMPLES + 1  # a FASTQC per sample, then one MULTIQC
# How long the run the page cancels would otherwise sit in its first task (the schema's most).
HOLD_SECONDS = 600

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(300),
]


@dataclass(frozen=True)
class Runs:
    tag: str
    label: str
    paged: str  # finished, TASKS tasks
    held: str  # running until cancelled
    two_samples: str  # a samplesheet of two rows


def create_run(stack: LiveStack, name: str, sheet: str, labels: list[str], **params: Any) -> str:
    with stack.client("compute") as compute:
        created = compute.post(
            "/api/v1/runs",
            json={
                "pipeline": "hello",
                "input": {"path": sheet},
                "name": name,
                "labels": labels,
                "params": params,
            },
            headers=stack.headers,
        )
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    return run_id


def samplesheet(samples: int) -> bytes:
    rows = [f"S{n:02d},raw/S{n:02d}_R1.fastq.gz,raw/S{n:02d}_R2.fastq.gz" for n in range(samples)]
    return ("sample,fastq_1,fastq_2\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def runs(https_stack: LiveStack) -> Iterator[Runs]:
    """A finished run of many tasks and a run held in its first task, both under a label of
    their own (other tests' runs share the project)."""
    tag = uuid.uuid4().hex[:8]
    label = f"web-cover-{tag}"
    https_stack.register_hello()
    many, two = f"sheets/{label}-many.csv", f"sheets/{label}-two.csv"
    https_stack.upload(many, samplesheet(SAMPLES))
    https_stack.upload(two, samplesheet(2))
    paged = create_run(https_stack, f"Many samples {tag}", many, [label], task_seconds=0.001)
    held = create_run(https_stack, f"Held {tag}", two, [label, "held"], silent_seconds=HOLD_SECONDS)
    https_stack.wait_state(paged, {"COMPLETE"}, timeout=120)
    https_stack.wait_state(held, {"RUNNING"})
    yield Runs(tag, label, paged, held, two)
    # A failed test may leave the held run running: its nextflow would outlive the session.
    if https_stack.run(held)["state"] not in {"CANCELED", "CANCELING"}:
        with https_stack.client("compute") as compute:
            compute.post(f"/api/v1/runs/{held}/cancel", headers=https_stack.headers)


def output_bytes(stack: LiveStack, run_id: str, folder: str, name: str) -> bytes:
    """An output's bytes as the files API serves them (its project path from compute)."""
    with stack.client("compute") as compute, stack.client("files") as files:
        listed = compute.get(
            f"/api/v1/runs/{run_id}/outputs", params={"path": folder}, headers=stack.headers
        )
        assert listed.status_code == 200, listed.text
        [entry] = [e for e in listed.json()["items"] if e["name"] == name]
        urls = files.post(
            "/api/v1/files/download-urls",
            json={"paths": [entry["project_path"]]},
            headers=stack.headers,
        )
        assert urls.status_code == 200, urls.text
        got = httpx.get(urls.json()["items"][0]["url"], verify=stack.verify, timeout=30)
        assert got.status_code == 200
        return got.content


def test_runs_list_task_table_outputs_and_cancel(
    chromium: Browser, https_stack: LiveStack, runs: Runs
) -> None:
    web = https_stack.urls["web"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    bodies: list[str] = []
    errors: list[str] = []
    violations: dict[str, list[str]] = {}

    def keep(response: Response) -> None:
        kind = response.headers.get("content-type", "")
        if response.url.startswith(web) and any(t in kind for t in ("html", "javascript", "json")):
            bodies.append(response.text())

    def watch(page: Page) -> None:
        page.on("response", keep)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    context.on("page", watch)
    page = context.new_page()
    log_in(page, https_stack)

    # Filters: the label alone, then with a state, then with a pipeline none of them ran.
    page.goto(f"{web}/runs")
    page.get_by_label("Label").fill(runs.label)
    page.get_by_role("button", name="Filter", exact=True).click()
    rows = page.locator("#run-rows tr")
    expect(rows).to_have_count(2)
    expect(page.locator("table.runs caption")).to_have_text("2 runs matching the filters")
    paged_row = rows.filter(has=page.get_by_role("link", name=f"Many samples {runs.tag}"))
    expect(paged_row.locator(".state")).to_have_text("complete")
    expect(paged_row.locator(".count")).to_have_text(f"{TASKS}/{TASKS}")
    held_row = rows.filter(has=page.get_by_role("link", name=f"Held {runs.tag}"))
    expect(held_row.locator(".state")).to_have_text("running")
    violations["runs filtered"] = axe_violations(page)
    page.get_by_label("running", exact=True).check()
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("link")).to_have_text(f"Held {runs.tag}")
    page.get_by_label("running", exact=True).uncheck()
    page.get_by_label("Pipeline").fill("rnaseq")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(rows).to_have_text(["No runs match these filters."])
    page.get_by_label("Pipeline").fill("hello")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(rows).to_have_count(2)

    # Live: a run started now appears on the open list (which polls while one of its runs is
    # unfinished) and finishes there, the page never reloaded.
    page.evaluate("() => { window.sameDocument = true }")
    later = create_run(
        https_stack, f"Later {runs.tag}", runs.two_samples, [runs.label], task_seconds=0.001
    )
    later_row = rows.filter(has=page.get_by_role("link", name=f"Later {runs.tag}"))
    expect(later_row.locator(".state")).to_have_text("complete")
    expect(later_row.locator(".count")).to_have_text("3/3")
    expect(rows).to_have_count(3)
    assert page.evaluate("() => window.sameDocument") is True
    assert https_stack.run(later)["state"] == "COMPLETE"

    # The task table: a second page, sort reversed (kept while paging), filters.
    page.get_by_role("link", name=f"Many samples {runs.tag}").click()
    tasks = page.locator("#tasks table.tasks")
    first_cells = tasks.locator("tbody tr td:first-child")
    expect(tasks.locator("caption")).to_have_text(f"{TASKS} tasks")
    expect(first_cells).to_have_count(50)
    expect(first_cells.first).to_have_text("1")
    pager = page.get_by_role("navigation", name="Pages of tasks")
    expect(pager).to_contain_text(f"1\N{EN DASH}50 of {TASKS}")
    violations["run"] = axe_violations(page)
    pager.get_by_role("link", name="Next").click()
    expect(first_cells).to_have_text([str(n) for n in range(51, TASKS + 1)])
    tasks.get_by_role("link", name="#").click()
    expect(tasks.locator("th[aria-sort]")).to_have_attribute("aria-sort", "descending")
    expect(first_cells.first).to_have_text(str(TASKS))
    pager.get_by_role("link", name="Next").click()
    expect(first_cells).to_have_text([str(n) for n in range(TASKS - 50, 0, -1)])
    page.get_by_label("Process (its full name)").fill("HELLO:MULTIQC")
    page.get_by_label("completed", exact=True).check()
    page.get_by_role("button", name="Filter tasks").click()
    expect(tasks.locator("caption")).to_have_text("1 task")
    expect(tasks.locator("tbody tr td:nth-child(2)")).to_have_text(["HELLO:MULTIQC"])
    expect(pager).to_have_count(0)
    page.get_by_label("completed", exact=True).uncheck()
    page.get_by_label("failed", exact=True).check()
    page.get_by_role("button", name="Filter tasks").click()
    expect(tasks.locator("tbody tr")).to_have_text(["No tasks match these filters."])
    violations["tasks filtered"] = axe_violations(page)

    # Outputs: into a folder, then a download, the same bytes as the files API gives.
    outputs = page.locator("#outputs")
    outputs.get_by_role("link", name="multiqc/").click()
    report = outputs.get_by_role("link", name="multiqc_report.html")
    with page.expect_download() as download:
        report.click()
    downloaded = Path(download.value.path()).read_bytes()
    assert b"MULTIQC" in downloaded
    assert downloaded == output_bytes(https_stack, runs.paged, "multiqc/", "multiqc_report.html")
    violations["outputs"] = axe_violations(page)

    # Cancel: one tab follows the held run (its state, its .nextflow.log), another cancels it.
    follower = context.new_page()
    follower.goto(f"{web}/runs/{runs.held}?log=nextflow")
    expect(follower.locator("#run-live .state")).to_have_text("running")
    log = follower.locator("#run-log pre.log")
    expect(log).to_contain_text("Session UUID")
    expect(log).not_to_contain_text("Session aborted")
    expect(follower.locator("#run-log .hint")).to_contain_text("following")
    follower.evaluate("() => { window.sameDocument = true }")
    violations["run running"] = axe_violations(follower)
    page.goto(f"{web}/runs/{runs.held}")
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-live .state")).to_have_text("canceled")
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    expect(follower.locator("#run-live .state")).to_have_text("canceled")
    expect(log).to_contain_text("Session aborted -- Cause: SIGTERM")
    expect(follower.get_by_role("button", name="Cancel run")).to_have_count(0)
    assert follower.evaluate("() => window.sameDocument") is True
    violations["run canceled"] = axe_violations(follower)
    assert https_stack.run(runs.held)["state"] == "CANCELED"

    # The list shows it canceled, filtered by that state.
    page.goto(f"{web}/runs?state=CANCELED&label={runs.label}")
    expect(rows.get_by_role("link")).to_have_text([f"Held {runs.tag}"])
    expect(rows.locator(".state")).to_have_text(["canceled"])

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    assert errors == []
    leaked = [body[:200] for body in bodies if JWT.search(body) or https_stack.token in body]
    assert leaked == [], "a token reached the browser"


def test_members_add_change_role_refusal_remove(chromium: Browser, https_stack: LiveStack) -> None:
    web = https_stack.urls["web"]
    username = f"member-{uuid.uuid4().hex[:8]}"
    with https_stack.client("admin") as admin:
        made = admin.post(
            "/api/v1/users",
            json={"username": username, "display_name": "Rosalind Franklin",
                  "org_id": https_stack.org_id},
            headers=https_stack.headers,
        )  # fmt: skip
        assert made.status_code == 201, made.text
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    bodies, errors = watch_pages(page, web)
    violations: dict[str, list[str]] = {}
    log_in(page, https_stack)

    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Live")
    expect(page.get_by_text("Your role: admin")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=f"({username})")
    expect(row).to_have_count(0)

    # Added as a viewer.
    page.get_by_label("Username").fill(username)
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_role("button", name="Add member").click()
    expect(row).to_contain_text("Rosalind Franklin")
    role = page.get_by_label(f"Role of {username}", exact=True)
    expect(role).to_have_value("viewer")
    violations["members"] = axe_violations(page)

    # Made an editor.
    role.select_option("editor")
    page.get_by_role("button", name=f"Change the role of {username}").click()
    expect(role).to_have_value("editor")
    assert project_role(https_stack, username) == "editor"

    # admin's refusals, said on the page, what was typed kept: a second membership, a user
    # nobody has heard of.
    refusal = page.locator("main p.problem[role=alert]")
    page.get_by_label("Username").fill(username)
    page.get_by_role("button", name="Add member").click()
    expect(refusal).to_have_text(
        f"{username} is already a member of live; change their role instead."
    )
    expect(page.get_by_label("Username")).to_have_value(username)
    expect(role).to_have_value("editor")
    violations["members refused"] = axe_violations(page)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}"
    page.get_by_label("Username").fill(unknown)
    page.get_by_role("button", name="Add member").click()
    expect(refusal).to_have_text("No active user with that id or username.")
    expect(page.get_by_label("Username")).to_have_value(unknown)
    assert project_role(https_stack, username) == "editor"

    # Removed.
    page.get_by_role("button", name=f"Remove {username}").click()
    expect(row).to_have_count(0)
    assert project_role(https_stack, username) is None

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    # Chromium logs the page answered with admin's refusal (on purpose) as an error.
    refused = "Failed to load resource: the server responded with a status of 4"
    assert [e for e in errors if not e.startswith(refused)] == []
    leaked = [body[:200] for body in bodies if JWT.search(body) or https_stack.token in body]
    assert leaked == [], "a token reached the browser"


def project_role(stack: LiveStack, username: str) -> str | None:
    """``username``'s role in the stack's project, as admin's API has it."""
    with stack.client("admin") as admin:
        listed = admin.get(
            f"/api/v1/projects/{stack.project_id}/members",
            params={"limit": 500},
            headers=stack.headers,
        )
    assert listed.status_code == 200, listed.text
    roles = [m["role"] for m in listed.json()["items"] if m["username"] == username]
    return roles[0] if roles else None
