"""The web app in headless Chromium against the HTTPS stack, as a user meets it: log in, pick
the project, follow a run, open a launch form, make and revoke a token, see the members, log
out. axe-core (vendored in
tests/e2e/axe) checks each page for WCAG 2.1 A/AA violations; the session cookie's flags, the
absence of any token in what the browser receives, and a script-laden run name rendered as
text are checked on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Response, expect, sync_playwright

from support.browser import (
    CHROMIUM,
    JWT,
    UI_TIMEOUT_MS,
    axe_violations,
    launch_chromium,
    screenshot,
)
from support.live import PASSWORD, LiveStack

XSS_NAME = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def chromium(https_stack: LiveStack) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, https_stack)
        yield browser
        browser.close()


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


def test_log_in_follow_a_run_manage_tokens_log_out(
    chromium: Browser, https_stack: LiveStack, xss_run: str
) -> None:
    web = https_stack.urls["web"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    bodies: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []

    def keep(response: Response) -> None:
        if response.url.startswith(web) and "text/html" in response.headers.get("content-type", ""):
            bodies.append(response.text())

    page.on("response", keep)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
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
    screenshot(page, "runs")

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
    screenshot(page, "run")

    # Launch: the form from the pipeline's schema; compute's refusal shown beside the field.
    page.get_by_role("link", name="Launch").click()
    page.get_by_role("link", name="Hello (test)").click()
    expect(page.get_by_label("Greeting")).to_have_value("hello")
    page.get_by_text("Pick it from the project's files").click()
    page.get_by_role("button", name="sheets/").click()
    page.get_by_role("button", name="Use sheets/hello.csv").click()
    expect(page.get_by_label("Input samplesheet")).to_have_value("sheets/hello.csv")
    violations["launch"] = axe_violations(page)
    screenshot(page, "launch")
    page.get_by_label("Input samplesheet").fill("sheets/nope.csv")
    page.get_by_role("button", name="Launch", exact=True).click()
    expect(page.locator("#launch-input-error")).to_be_visible()
    expect(page.get_by_label("Input samplesheet")).to_have_attribute("aria-invalid", "true")
    violations["launch refused"] = axe_violations(page)

    # Tokens: the new secret shown once, then gone; revoked at admin.
    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("from the browser")
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
    page.get_by_role("button", name="Revoke from the browser").click()
    expect(page.get_by_role("row", name=re.compile("from the browser"))).to_have_count(0)

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
