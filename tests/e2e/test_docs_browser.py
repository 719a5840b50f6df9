"""Each service's /docs (Swagger UI) and /redoc in headless Chromium against the HTTPS stack:
the pages render with no request leaving the machine, and a user can Authorize with a personal
access token, fill X-Project-ID in the try-it-out form and Execute a real call.

Chromium (the test process's one, support.browser) trusts exactly the stack's server
certificate (its SPKI pin), not any certificate.
With NFHUB_BROWSER_ARTIFACTS set, screenshots of the pages land in test-artifacts/browser/.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
)
from playwright.sync_api import Error as PlaywrightError

from nfhub_shared.devtls import DevTls
from support.browser import CHROMIUM, UI_TIMEOUT_MS, launch_trusting
from support.live import REPO, LiveStack

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(240),
]

# Screenshots for a person to look at, when asked: no assertion reads them, and encoding them
# (Swagger UI's whole page) is Chromium time an ordinary run does not need.
ARTIFACTS = REPO / "test-artifacts" / "browser"
ARTIFACTS_ENV = "NFHUB_BROWSER_ARTIFACTS"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVICES = ("admin", "compute", "files", "miner")
# ReDoc 2 always asks cdn.redoc.ly for its logo; /redoc's CSP blocks it and Chromium says so.
CSP_BLOCKED_LOGO = re.compile(
    r"^Loading the image 'https://cdn\.redoc\.ly/.*Content Security Policy"
)


def openapi(service: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((REPO / "openapi" / f"{service}.json").read_text())
    return document


def operation_dom_id(service: str, method: str, path: str) -> str:
    """Swagger's id for an operation block: ``operations-<first tag>-<operationId>``."""
    operation = openapi(service)["paths"][path][method]
    return f"operations-{operation['tags'][0]}-{operation['operationId']}"


def artifact(name: str) -> Path | None:
    """Where the screenshot ``name`` goes; None when NFHUB_BROWSER_ARTIFACTS is unset."""
    if not os.environ.get(ARTIFACTS_ENV):
        return None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


@dataclass
class Visit:
    """One browser context: every request goes through ``_route``, errors are kept."""

    context: BrowserContext
    page: Page
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def _route(self, route: Route) -> None:
        request = route.request
        if urlsplit(request.url).hostname in LOCAL_HOSTS:
            self.requests.append((request.method, request.url, request.headers))
            route.continue_()
        else:
            self.foreign.append(request.url)
            route.abort()

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def sent(self, method: str, url_prefix: str) -> list[dict[str, str]]:
        """The headers of each ``method`` request whose URL starts with ``url_prefix``."""
        return [h for m, url, h in self.requests if m == method and url.startswith(url_prefix)]


@pytest.fixture
def visit(chromium: Browser) -> Iterator[Visit]:
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)  # expect's own default is 5 s
    visit = Visit(context, context.new_page())
    context.route("**/*", visit._route)
    visit.page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    visit.page.on("console", visit._console)
    yield visit
    context.close()


REDOC_RENDER_MS = 60_000


@pytest.mark.parametrize("service", SERVICES)
def test_swagger_ui_and_redoc_render_offline(
    visit: Visit, https_stack: LiveStack, service: str
) -> None:
    info = openapi(service)["info"]
    page = visit.page
    base = https_stack.urls[service]

    page.goto(f"{base}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text(info["title"])
    operations = page.locator(".opblock .opblock-summary")
    expect(operations.first).to_be_visible()
    assert operations.count() >= len(openapi(service)["paths"])
    if (shot := artifact(f"{service}-docs")) is not None:
        page.screenshot(path=shot, full_page=True)

    page.goto(f"{base}/redoc")
    # ReDoc lays the whole document out before its first heading shows: compute's (390 KB)
    # takes seconds on two busy cores, past expect's 5 s default.
    expect(page.locator(".api-info h1")).to_have_text(
        f"{info['title']} ({info['version']})", timeout=REDOC_RENDER_MS
    )
    menu = page.locator("[role=menuitem]")
    expect(menu.first).to_be_visible()
    for tag in openapi(service)["tags"]:
        expect(page.locator(f'[role=menuitem][data-item-id="tag/{tag["name"]}"]')).to_be_attached()
    # The whole ReDoc page is every schema laid out: tens of thousands of pixels, seconds.
    if (shot := artifact(f"{service}-redoc")) is not None:
        page.screenshot(path=shot)

    assert visit.foreign == [], "the docs pages reached beyond this machine"
    assert visit.page_errors == []
    assert [e for e in visit.console_errors if not CSP_BLOCKED_LOGO.match(e)] == []
    assert any(url.startswith(f"{base}/_static/") for _, url, _ in visit.requests)


def authorize_bearer(page: Page, token: str) -> None:
    """Authorize → the HTTPBearer scheme ``BearerToken`` (not ServiceToken, not OAuth2)."""
    page.locator(".auth-wrapper button.authorize").click()
    scheme = page.locator(".modal-ux .auth-container").filter(
        has=page.locator("h4 code", has_text=re.compile(r"^BearerToken$"))
    )
    scheme.locator("#auth-bearer-value").fill(token)
    scheme.locator(".auth-btn-wrapper button.authorize").click()
    expect(scheme.get_by_text("Authorized", exact=True)).to_be_visible()
    scheme.locator("button.btn-done").click()
    expect(page.locator(".modal-ux")).to_have_count(0)


def try_it_out(page: Page, dom_id: str, fields: dict[str, str]) -> tuple[str, str]:
    """Open the operation, Try it out, fill ``fields`` (parameter name → value), Execute.

    Returns the live response's status and body as Swagger renders them."""
    operation = page.locator(f"#{dom_id}")
    operation.locator(".opblock-summary").click()
    expect(operation.locator(".authorization__btn")).to_have_attribute(
        "aria-label", "authorization button locked"
    )
    operation.locator("button.try-out__btn").click()
    for name, value in fields.items():
        operation.locator(f'tr[data-param-name="{name}"] input').fill(value)
    operation.locator("button.execute").click()
    live = operation.locator(".live-responses-table .response")
    expect(live.locator(".response-col_status")).not_to_have_text("")
    body = live.locator(".response-col_description .highlight-code")
    expect(body).to_be_visible()
    operation.scroll_into_view_if_needed()
    # An undocumented code is shown as e.g. "400\nUndocumented".
    status = live.locator(".response-col_status").inner_text().split()[0]
    return status, body.inner_text()


def seed(stack: LiveStack, service: str, marker: str) -> tuple[str, str, dict[str, str], str]:
    """Data for the call to show; returns (method, path, form fields, text the body must hold)."""
    project = {"X-Project-ID": stack.project_id}
    if service == "admin":
        return "get", "/api/v1/users/me", {}, '"username": "live"'
    if service == "compute":
        # The stack's catalog registers `demo` at start-up: the list is never empty.
        with stack.client("compute") as compute:
            listed = compute.get("/api/v1/pipelines", headers=stack.headers)
        assert listed.status_code == 200, listed.text
        assert "demo" in {item["slug"] for item in listed.json()["items"]}, listed.text
        return "get", "/api/v1/pipelines", project, '"slug": "demo"'
    if service == "files":
        stack.upload(f"{marker}/reads.txt", b"ACGT\n")
        return "get", "/api/v1/files", {**project, "path": marker}, f"{marker}/reads.txt"
    assert service == "miner"
    with stack.client("miner") as miner:
        created = miner.post(
            "/api/v1/subjects", json={"display_id": marker, "sex": "female"}, headers=stack.headers
        )
    assert created.status_code == 201, created.text
    return "get", "/api/v1/subjects", {**project, "q": marker}, f'"display_id": "{marker}"'


@pytest.mark.parametrize("service", SERVICES)
def test_try_it_out_with_a_personal_access_token(
    visit: Visit, https_stack: LiveStack, service: str
) -> None:
    marker = f"docs-browser-{uuid.uuid4().hex[:8]}"
    method, path, fields, expected = seed(https_stack, service, marker)
    page = visit.page
    base = https_stack.urls[service]

    page.goto(f"{base}/docs")
    authorize_bearer(page, https_stack.token)
    dom_id = operation_dom_id(service, method, path)
    status, body = try_it_out(page, dom_id, fields)
    if (shot := artifact(f"{service}-docs-executed")) is not None:
        page.locator(f"#{dom_id}").screenshot(path=shot)

    assert status == "200", body
    assert expected in body
    [sent] = visit.sent(method.upper(), f"{base}{path}")
    assert sent["authorization"] == f"Bearer {https_stack.token}"
    if "X-Project-ID" in fields:
        assert sent["x-project-id"] == https_stack.project_id
    assert visit.foreign == []
    assert visit.page_errors == []
    assert visit.console_errors == []


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>other</title><p>served by the other CA</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def other_https(tmp_path: Path) -> Iterator[tuple[DevTls, str]]:
    """A page on 127.0.0.1 with a certificate from a second development CA."""
    other = DevTls(tmp_path / "other-tls").ensure()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(other.server_cert, other.server_key)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield other, f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def refusal(browser: Browser, url: str) -> str | None:
    """Open ``url`` in a new page, which must fail; Chromium's network error for it."""
    # A page left on Chromium's error page can spoil its next navigation: one page per try.
    page = browser.new_page()
    try:
        # goto raises that error or, racing it, "interrupted by … chrome-error://".
        with (
            page.expect_event("requestfailed", lambda request: request.url == url) as failed,
            pytest.raises(PlaywrightError),
        ):
            page.goto(url)
        return failed.value.failure
    finally:
        page.close()


def loads(browser: Browser, url: str, text: str) -> None:
    page = browser.new_page()
    try:
        response = page.goto(url)
        assert response is not None and response.ok, url
        expect(page.locator("body")).to_contain_text(text)
    finally:
        page.close()


def test_chromium_trusts_only_the_pinned_certificate(
    playwright: Playwright,
    chromium: Browser,
    https_stack: LiveStack,
    other_https: tuple[DevTls, str],
) -> None:
    other, other_url = other_https
    docs = f"{https_stack.urls['admin']}/docs"
    title = openapi("admin")["info"]["title"]

    loads(chromium, docs, title)
    assert refusal(chromium, other_url) == "net::ERR_CERT_AUTHORITY_INVALID"

    # The same flag with the other server's key: the stack is refused, the other page loads.
    pinned_to_other = launch_trusting(playwright, other.server_cert)
    try:
        assert refusal(pinned_to_other, docs) == "net::ERR_CERT_AUTHORITY_INVALID"
        loads(pinned_to_other, other_url, "served by the other CA")
    finally:
        pinned_to_other.close()
