"""What the browser tests share: Chromium launched to trust only the stack's dev certificate,
once per test process (the ``chromium`` fixture; each test opens its own contexts in it),
axe-core's WCAG 2.1 A/AA check, logging in to the web app, and the README's screenshots.

Screenshots are written only when ``NFHUB_SCREENSHOTS_DIR`` is set (``make screenshots``), so an
ordinary run leaves the tree as it was.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Browser, Playwright, Response, expect, sync_playwright
from playwright.sync_api import Page as Page

from support.live import PASSWORD, LiveStack

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent.parent / "e2e" / "axe" / "axe-4.14.1.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Checked on this machine (RECIPES.md): no GPU, no sandbox as root, no background traffic.
LAUNCH_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
# An access token (a JWT) in anything the browser receives is a leak.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ")
# Every wait of a browser test: long enough for a machine whose cores the other xdist workers
# keep busy (a CI run once took over 15 s to show compute's Swagger Authorize button); a wait
# ends as soon as what it waits for shows.
UI_TIMEOUT_MS = 45_000
SCREENSHOTS_ENV = "NFHUB_SCREENSHOTS_DIR"


def spki_pin(certificate: Path) -> str:
    """What ``--ignore-certificate-errors-spki-list`` takes: base64 SHA-256 of the SPKI DER."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def launch_trusting(playwright: Playwright, certificate: Path) -> Browser:
    """Debian's Chromium, trusting ``certificate`` (by its key's pin) and nothing else extra."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*LAUNCH_ARGS, f"--ignore-certificate-errors-spki-list={spki_pin(certificate)}"],
    )


def launch_chromium(playwright: Playwright, stack: LiveStack) -> Browser:
    """Debian's Chromium, trusting the stack's dev certificate and nothing else extra."""
    assert stack.tls is not None, "the browser tests need the HTTPS stack"
    return launch_trusting(playwright, stack.tls.server_cert)


class BrowserDriver:
    """The test process's one Playwright driver and one Chromium for the stack (its pin is a
    launch argument, the same for every test), started when a browser test first asks and
    stopped after the last of a row of browser tests (``stop_unless_next_needs``).

    Not a session fixture: while Playwright's sync API is started it keeps an event loop
    running on the test thread, and pytest-asyncio can run no async test of that process.
    """

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None

    def playwright(self) -> Playwright:
        if self._playwright is None:
            self._playwright = sync_playwright().start()
        return self._playwright

    def browser(self, stack: LiveStack) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self._browser = launch_chromium(self.playwright(), stack)
        return self._browser

    def stop(self) -> None:
        browser, running = self._browser, self._playwright
        self._browser = self._playwright = None
        if browser is not None and browser.is_connected():
            browser.close()
        if running is not None:
            running.stop()


DRIVER = BrowserDriver()
BROWSER_FIXTURES = frozenset({"chromium", "playwright"})


def stop_unless_next_needs(nextitem: pytest.Item | None) -> None:
    """After a test (``pytest_runtest_teardown``): stop the driver unless the next test of
    this process uses it too, so the async tests after a row of browser tests can run."""
    if nextitem is None or not BROWSER_FIXTURES & set(getattr(nextitem, "fixturenames", ())):
        DRIVER.stop()


@pytest.fixture
def playwright() -> Playwright:
    """The test process's one Playwright driver (see ``BrowserDriver``)."""
    return DRIVER.playwright()


@pytest.fixture
def chromium(https_stack: LiveStack) -> Iterator[Browser]:
    """Chromium trusting the stack's certificate, shared by the process's tests: a test keeps
    its cookies and storage in contexts of its own (``new_context``, ``new_page``), and what
    it leaves open is closed after it, so the next test starts with none."""
    browser = DRIVER.browser(https_stack)
    yield browser
    if browser.is_connected():
        for context in browser.contexts:
            context.close()


@functools.cache
def _axe_source() -> str:
    return AXE.read_text()


def axe_violations(page: Page) -> list[str]:
    """WCAG 2.1 A/AA violations axe-core finds on the page (DevTools evaluation: the page's
    CSP, which allows no injected script, does not apply to it)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    results: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_21_AA,
    )
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results["violations"]]


def watch_pages(page: Page, web: str) -> tuple[list[str], list[str]]:
    """What a test checks of the pages the web app (at ``web``) served it, collected as they
    come: their HTML bodies (no access token may be in one) and the browser's errors (script
    exceptions, console errors)."""
    bodies: list[str] = []
    errors: list[str] = []

    def keep(response: Response) -> None:
        if response.url.startswith(web) and "text/html" in response.headers.get("content-type", ""):
            bodies.append(response.text())

    page.on("response", keep)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return bodies, errors


def log_in(page: Page, stack: LiveStack, project: str = "Live") -> None:
    """Log in to the web app as the stack's first user and pick ``project`` (by its label on
    the context page) when the app asks for one."""
    web = stack.urls["web"]
    page.goto(f"{web}/login")
    page.get_by_label("Username or email").fill("live")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    if page.url.rstrip("/").endswith("/context"):
        page.get_by_label(project).check()
        page.get_by_role("button", name="Use this project").click()
    expect(page.locator("#current-context")).to_contain_text(project)


def screenshot(page: Page, name: str) -> Path | None:
    """Save the page as ``<NFHUB_SCREENSHOTS_DIR>/<name>.png`` for the README (``make
    screenshots``); nothing when the variable is unset."""
    folder = os.environ.get(SCREENSHOTS_ENV)
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)
    return path
