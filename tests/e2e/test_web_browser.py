"""The web app in headless Chromium against the HTTPS stack, as a user meets it: log in
through the organisation's OpenID provider and out; log in with a password, pick the project,
follow a run, open a launch form, make and revoke a token, see the members, log out; launch
from a pipeline's nf-schema form, follow the run to its end, relaunch and resume it, launch on
an order's samplesheet. axe-core (vendored in tests/e2e/axe) checks each page for WCAG 2.1
A/AA violations; the session cookie's flags, the absence of any token in what the browser
receives, and a script-laden run name rendered as text are checked on the way.

With NFHUB_SCREENSHOTS_DIR set (``make screenshots``), the pages the README shows are saved:
taken on friendly data (the launch test's runs), never on the script-laden run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from werkzeug.serving import BaseWSGIServer

from support.browser import (
    CHROMIUM,
    JWT,
    UI_TIMEOUT_MS,
    axe_violations,
    log_in,
    screenshot,
    watch_pages,
)
from support.live import PASSWORD, LiveStack
from support.oidc import PROVIDER_TITLE, PROVIDER_WARNINGS
from support.oidc import USER as OIDC_USER

VIEWPORT = {"width": 1280, "height": 800}
XSS_NAME = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(240),
]


def new_context(browser: Browser) -> BrowserContext:
    """A fresh browser profile the size of the README's screenshots."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    return context


def page_errors(page: Page, origin: str) -> list[str]:
    """What goes wrong in the page while it shows one of ``origin``'s (not, say, an OpenID
    provider's): script errors, console errors."""
    errors: list[str] = []

    def keep(text: str) -> None:
        if page.url.startswith(origin):
            errors.append(text)

    page.on("pageerror", lambda error: keep(str(error)))
    page.on("console", lambda m: keep(m.text) if m.type == "error" else None)
    return errors


@pytest.fixture(scope="module")
def xss_run(https_stack: LiveStack) -> str:
    https_stack.register_hello()
    https_stack.upload(
        "sheets/hello.csv", b"sample,fastq_1,fastq_2\nS1,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"
    )
    with https_stack.client("compute") as compute:
        created = compute.post(
            "/api/v1/runs",
            json={
                "pipeline": "hello",
                "input": {"path": "sheets/hello.csv"},
                "name": XSS_NAME,
                "params": {"greeting": XSS_NAME},
            },
            headers=https_stack.headers,
        )
    assert created.status_code == 201, created.text
    run_id: str = created.json()["id"]
    return run_id


@pytest.mark.filterwarnings(PROVIDER_WARNINGS)
def test_log_in_through_the_organisations_sso_then_out(
    chromium: Browser, https_stack: LiveStack, oidc_provider: BaseWSGIServer
) -> None:
    web = https_stack.urls["web"]
    context = new_context(chromium)
    page = context.new_page()
    errors = page_errors(page, web)
    bodies: list[str] = []

    def keep(response: Response) -> None:
        if response.url.startswith(web) and "text/html" in response.headers.get("content-type", ""):
            bodies.append(response.text())

    page.on("response", keep)

    # web → admin → the provider's own page, where the user says who they are.
    page.goto(f"{web}/login?next=/runs")
    page.get_by_role("link", name=PROVIDER_TITLE).click()
    expect(page).to_have_url(re.compile(rf"^http://localhost:{oidc_provider.server_port}/"))
    page.get_by_role("button", name=OIDC_USER.sub, exact=True).click()

    # Back through admin to web, whose page finishes the login (the tokens handed in the URL
    # fragment leave the address bar); a new user belongs to no organisation yet.
    expect(page).to_have_url(f"{web}/context")
    expect(page.locator("header .user")).to_have_text("Ada Lovelace")
    expect(page.get_by_text("You are in no organisation yet")).to_be_visible()
    assert axe_violations(page) == []
    session = {c["name"]: c for c in context.cookies()}["__Host-nfhub_session"]
    assert session["httpOnly"] and session["secure"]

    # Made a viewer of Live at admin, she picks it and sees its runs.
    bearer = {"Authorization": f"Bearer {https_stack.token}"}
    with https_stack.client("admin") as admin:
        for members, role in (
            (f"/api/v1/orgs/{https_stack.org_id}/members", "member"),
            (f"/api/v1/projects/{https_stack.project_id}/members", "viewer"),
        ):
            added = admin.post(members, json={"username": "ada", "role": role}, headers=bearer)
            assert added.status_code == 201, added.text
    page.reload()
    page.get_by_label("Live").check()
    page.get_by_role("button", name="Use this project").click()
    expect(page).to_have_url(f"{web}/runs")
    expect(page.locator("#current-context")).to_contain_text("Live")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{web}/login")
    page.goto(f"{web}/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=/runs$"))
    context.close()
    assert errors == []
    assert bodies and [body[:200] for body in bodies if JWT.search(body)] == []


def test_log_in_follow_a_run_manage_tokens_log_out(
    chromium: Browser, https_stack: LiveStack, xss_run: str
) -> None:
    web = https_stack.urls["web"]
    context = new_context(chromium)
    page = context.new_page()
    bodies, errors = watch_pages(page, web)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    violations: dict[str, list[str]] = {}

    # Logged out, a page sends the user to the login form.
    page.goto(f"{web}/runs")
    expect(page).to_have_url(re.compile(r"/login\?next=/runs$"))
    violations["login"] = axe_violations(page)
    screenshot(page, "login")
    page.get_by_label("Username or email").fill("live")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # No project picked yet: the context page, then the runs of the picked one.
    expect(page).to_have_url(f"{web}/context")
    violations["context"] = axe_violations(page)
    page.get_by_label("Live").check()
    page.get_by_role("button", name="Use this project").click()
    expect(page).to_have_url(f"{web}/runs")
    expect(page.locator("#current-context")).to_contain_text("Live")
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["__Host-nfhub_session"]
    assert session["httpOnly"] and session["secure"] and session["sameSite"] == "Lax"
    assert "domain" not in session or session["domain"].lstrip(".") == "127.0.0.1"

    # The run's name is shown as text: no script ran, no element came from it.
    link = page.get_by_role("link", name=XSS_NAME)
    expect(link).to_be_visible()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("main img").count() == 0
    violations["runs"] = axe_violations(page)

    link.click()
    expect(page).to_have_url(f"{web}/runs/{xss_run}")
    expect(page.locator("h1 .run-name")).to_have_text(XSS_NAME)
    https_stack.wait_state(xss_run, {"COMPLETE"})
    # The state section polls until the run is finished.
    expect(page.locator("#run-live .state")).to_have_text("complete", timeout=20_000)
    page.reload()
    expect(page.locator("#tasks table tbody tr").first).to_be_visible()
    expect(page.locator("table.params td code")).to_have_text(XSS_NAME)
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("main img").count() == 0
    violations["run"] = axe_violations(page)

    # Launch: the form from the pipeline's schema; compute's refusal shown beside the field.
    page.get_by_role("link", name="Launch").click()
    page.get_by_role("link", name="Hello (test)").click()
    expect(page.get_by_label("Greeting")).to_have_value("hello")
    page.get_by_text("Pick it from the project's files").click()
    page.get_by_role("button", name="sheets/").click()
    page.get_by_role("button", name="Use sheets/hello.csv").click()
    expect(page.get_by_label("Input samplesheet")).to_have_value("sheets/hello.csv")
    violations["launch"] = axe_violations(page)
    page.get_by_label("Input samplesheet").fill("sheets/nope.csv")
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#launch-input-error")).to_be_visible()
    expect(page.get_by_label("Input samplesheet")).to_have_attribute("aria-invalid", "true")
    violations["launch refused"] = axe_violations(page)

    # Tokens: the new secret shown once, then gone; revoked at admin.
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("Laptop CLI")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    with httpx.Client(verify=https_stack.verify) as client:
        me = client.get(
            f"{https_stack.urls['admin']}/api/v1/users/me",
            headers={"Authorization": f"Bearer {secret}"},
        )
        assert me.status_code == 200
    violations["tokens"] = axe_violations(page)
    screenshot(page, "tokens")
    page.goto(f"{web}/tokens")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke Laptop CLI").click()
    expect(page.get_by_role("row", name=re.compile("Laptop CLI"))).to_have_count(0)

    page.get_by_role("link", name="Members").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Members of Live")
    violations["members"] = axe_violations(page)
    screenshot(page, "members")

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{web}/login")
    page.goto(f"{web}/runs")
    expect(page).to_have_url(re.compile(r"/login"))

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    assert dialogs == []
    # Chromium logs a page answered 422 (the refused launch form, on purpose) as an error.
    refused_form = "Failed to load resource: the server responded with a status of 422"
    assert [e for e in errors if not e.startswith(refused_form)] == []
    leaked = [body[:200] for body in bodies if JWT.search(body)]
    assert leaked == [], "an access token reached the browser"


RNASEQ = "RNA-seq quantification"
SAMPLESHEET = "samplesheets/liver-batch7.csv"
RUN_NAME = "Liver biopsies, batch 7"
ORDER = "ORD-LIVER-8"


@dataclass(frozen=True)
class LaunchSetup:
    compute_env_id: str
    order_id: str
    order_samplesheet: str


@pytest.fixture(scope="module")
def rnaseq(https_stack: LiveStack) -> LaunchSetup:
    """The rnaseq test pipeline, a samplesheet in the project's files, a second compute
    environment, and an order analysed once (so miner has written its samplesheet)."""
    https_stack.register_fake("rnaseq", RNASEQ)
    rows = [f"LIV-{n:02d},raw/LIV-{n:02d}_R1.fastq.gz,raw/LIV-{n:02d}_R2.fastq.gz" for n in (1, 2)]
    https_stack.upload(SAMPLESHEET, ("sample,fastq_1,fastq_2\n" + "\n".join(rows) + "\n").encode())
    folders = [https_stack.root / "lab-server" / name for name in ("work", "launch")]
    for folder in folders:
        folder.mkdir(parents=True)
    with https_stack.client("compute") as compute, https_stack.client("miner") as miner:
        env = compute.post(
            "/api/v1/compute-envs",
            json={
                "name": "lab-server",
                "description": "The lab's own server",
                "backend": "local",
                "work_dir": str(folders[0]),
                "launch_dir": str(folders[1]),
            },
            headers=https_stack.headers,
        )
        assert env.status_code == 201, env.text
        paths = {}
        for read in (1, 2):
            paths[f"fastq_{read}"] = path = f"raw/LIV-08_R{read}.fastq.gz"
            https_stack.upload(path, f"@LIV-08/{read}\nACGT\n+\nIIII\n".encode())
        sample = miner.post(
            "/api/v1/samples",
            json={"display_id": "LIV-08", "files": [{"paths": paths}]},
            headers=https_stack.headers,
        )
        assert sample.status_code == 201, sample.text
        order = miner.post(
            "/api/v1/orders",
            json={
                "display_id": ORDER,
                "pipeline": "rnaseq",
                "params": {"genome": "GRCh38"},
                "samples": [{"sample_id": sample.json()["id"]}],
            },
            headers=https_stack.headers,
        )
        assert order.status_code == 201, order.text
        moved = miner.post(
            f"/api/v1/orders/{order.json()['id']}/transition",
            json={"to": "analyzing"},
            headers=https_stack.headers,
        )
        assert moved.status_code == 200, moved.text
    return LaunchSetup(env.json()["id"], order.json()["id"], moved.json()["samplesheet_path"])


def run_id_of(page: Page) -> str:
    """The run whose page the browser is on."""
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def test_launch_from_the_form_follow_it_relaunch_and_resume(
    chromium: Browser, https_stack: LiveStack, rnaseq: LaunchSetup
) -> None:
    web = https_stack.urls["web"]
    context = new_context(chromium)
    page = context.new_page()
    errors = page_errors(page, web)
    violations: dict[str, list[str]] = {}
    log_in(page, https_stack)
    page.get_by_role("link", name="Launch").click()
    page.get_by_role("link", name=RNASEQ).click()

    # The form nf-schema makes: groups as sections (in the schema's order; the one holding
    # only what nfhub sets is left out), enums as selects, required marked, help text.
    expect(page.locator("fieldset.param-group > legend")).to_have_text(
        ["Reference genome options", "Read trimming options", "Generic options"]
    )
    genome = page.get_by_label("Reference genome")
    expect(genome.locator("option")).to_have_text(["GRCh38", "GRCm39", "R64-1-1"])
    expect(page.locator("label[for=param-genome] .required")).to_have_text("(required)")
    expect(page.locator("label[for=param-trimmer] .required")).to_have_count(0)
    help_text = page.locator("#param-genome-help")
    expect(help_text).to_contain_text("The iGenomes name of the reference.")
    expect(help_text.get_by_text("GRCh38 for human")).to_be_hidden()
    help_text.get_by_text("More help").click()
    expect(help_text.get_by_text("GRCh38 for human")).to_be_visible()
    # Defaults filled; hidden parameters behind "show hidden".
    expect(page.get_by_label("Trimming tool")).to_have_value("trimgalore")
    min_reads = page.get_by_label("Minimum reads after trimming")
    expect(min_reads).to_have_value("10000")
    publish_mode = page.get_by_label("Publish mode")
    expect(publish_mode).to_be_hidden()
    page.get_by_text("Show hidden parameters (2)").click()
    expect(publish_mode).to_be_visible()
    expect(publish_mode).to_have_value("copy")

    # The samplesheet from the project's files, the compute environment, a name.
    page.get_by_text("Pick it from the project's files").click()
    page.get_by_role("button", name="samplesheets/").click()
    page.get_by_role("button", name=f"Use {SAMPLESHEET}").click()
    sheet = page.get_by_label("Input samplesheet")
    expect(sheet).to_have_value(SAMPLESHEET)
    expect(page.locator("label[for=launch-input] .required")).to_have_text("(required)")
    page.get_by_label("Compute environment").select_option(label="lab-server (local)")
    page.get_by_label("Run name").fill(RUN_NAME)
    genome.select_option("GRCm39")
    page.get_by_label("Trimming tool").select_option("fastp")
    violations["launch"] = axe_violations(page)
    page.locator("#launch-env").evaluate("field => field.scrollIntoView()")
    screenshot(page, "launch")

    # compute refuses a number below the schema's minimum: said beside the field, the rest kept.
    min_reads.fill("-5")
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#param-min_trimmed_reads-error")).to_be_visible()
    expect(min_reads).to_have_attribute("aria-invalid", "true")
    expect(sheet).to_have_value(SAMPLESHEET)
    expect(page.get_by_label("Run name")).to_have_value(RUN_NAME)
    expect(page.get_by_label("Compute environment")).to_have_value(rnaseq.compute_env_id)
    violations["launch refused"] = axe_violations(page)

    min_reads.fill("5000")
    page.get_by_role("button", name="Launch", exact=True).click()
    first = run_id_of(page)
    expect(page.locator("h1 .run-name")).to_have_text(RUN_NAME)
    # Followed live to its end (the state section polls), launched by a name, not an id.
    expect(page.locator("#run-live .state")).to_have_text("complete", timeout=60_000)
    launched_by = page.locator("dl.facts dt:text-is('Launched by') + dd")
    expect(launched_by).to_contain_text("live, ")
    run = https_stack.run(first)
    assert run["created_by"] not in launched_by.inner_text()
    assert run["params"] == {
        "genome": "GRCm39",
        "trimmer": "fastp",
        "min_trimmed_reads": 5000,
        "publish_dir_mode": "copy",
        "max_multiqc_email_size": "25.MB",
    }
    assert run["input"]["path"] == SAMPLESHEET
    assert run["compute_env_id"] == rnaseq.compute_env_id
    page.reload()
    expect(page.locator("#tasks table tbody tr")).to_have_count(4)  # 2 FASTQC, then 1 each
    violations["run"] = axe_violations(page)
    screenshot(page, "run")

    # Relaunch, then Resume, from the finished run's page: each a new run of it.
    page.get_by_role("button", name="Relaunch").click()
    relaunched = run_id_of(page)
    expect(page.locator("h1 .run-name")).to_have_text(RUN_NAME)
    page.goto(f"{web}/runs/{first}")
    page.get_by_role("button", name="Resume").click()
    resumed = run_id_of(page)
    expect(page.locator("h1 .run-name")).to_have_text(RUN_NAME)
    again, resumed_run = https_stack.run(relaunched), https_stack.run(resumed)
    assert len({first, relaunched, resumed}) == 3
    assert (again["relaunched_from_id"], again["resume"]) == (first, False)
    assert (resumed_run["relaunched_from_id"], resumed_run["resume"]) == (first, True)
    assert resumed_run["params"] == again["params"] == run["params"]

    # An order's samplesheet as the input: the one miner wrote for it.
    page.goto(f"{web}/launch/rnaseq")
    orders = page.get_by_label("Or an order's samplesheet")
    # analyzing, or review once its run has ended
    expect(orders.locator(f"option[value='{rnaseq.order_id}']")).to_contain_text(ORDER)
    orders.select_option(rnaseq.order_id)
    page.get_by_label("Reference genome").select_option("GRCh38")
    page.get_by_label("Run name").fill(f"{ORDER} on GRCh38")
    page.get_by_role("button", name="Launch", exact=True).click()
    for_order = https_stack.run(run_id_of(page))
    assert for_order["input"] == {
        "path": rnaseq.order_samplesheet,
        "order_id": rnaseq.order_id,
    }

    # The runs of the pipeline, for the README.
    page.goto(f"{web}/runs?pipeline=rnaseq")
    expect(page.get_by_role("link", name=RUN_NAME)).to_have_count(3)
    violations["runs"] = axe_violations(page)
    screenshot(page, "runs")

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    # Chromium logs a page answered 422 (the refused launch form, on purpose) as an error.
    refused = "Failed to load resource: the server responded with a status of 422"
    assert [e for e in errors if not e.startswith(refused)] == []
