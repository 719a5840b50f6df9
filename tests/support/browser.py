"""What the browser tests share: Chromium launched to trust only the stack's dev certificate,
axe-core's WCAG 2.1 A/AA check, logging in to the web app, and the README's screenshots.

Screenshots are written only when ``NFHUB_SCREENSHOTS_DIR`` is set (``make screenshots``), so an
ordinary run leaves the tree as it was.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.sync_api import Browser, Playwright, expect
from playwright.sync_api import Page as Page

from support.live import PASSWORD, LiveStack

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parent.parent / "e2e" / "axe" / "axe-4.14.1.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LAUNCH_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
# An access token (a JWT) in anything the browser receives is a leak.
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ")
# Every wait of a browser test: long enough for a machine whose cores the other xdist workers
# keep busy; a wait ends as soon as what it waits for shows.
UI_TIMEOUT_MS = 45_000
SCREENSHOTS_ENV = "NFHUB_SCREENSHOTS_DIR"


def spki_pin(certificate: Path) -> str:
    """What ``--ignore-certificate-errors-spki-list`` takes: base64 SHA-256 of the SPKI DER."""
    cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def launch_chromium(playwright: Playwright, stack: LiveStack) -> Browser:
    """Debian's Chromium, trusting the stack's dev certificate and nothing else extra."""
    assert stack.tls is not None, "the browser tests need the HTTPS stack"
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[
            *LAUNCH_ARGS,
            f"--ignore-certificate-errors-spki-list={spki_pin(stack.tls.server_cert)}",
        ],
    )


def axe_violations(page: Page) -> list[str]:
    """WCAG 2.1 A/AA violations axe-core finds on the page (DevTools evaluation: the page's
    CSP, which allows no injected script, does not apply to it)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text())
    results: dict[str, Any] = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_21_AA,
    )
    return [f"{v['id']}: {[n['target'] for n in v['nodes']]}" for v in results["violations"]]


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
