"""The Files pages in headless Chromium against the HTTPS stack: files and a folder uploaded
from the page straight to the files service's signed URLs (CORS and the CSP's connect-src as a
real browser enforces them), progress bars to the end, a multipart upload cut off and resumed
after a reload, a download compared byte for byte, move, delete (a folder after a second
question) and a zip archive; axe-core on each page, no token in anything the browser receives,
a script-laden file name kept as text.

The README's picture (``make screenshots``) is of a sequencing run's FASTQs uploaded for it,
never of the script-laden name.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    FilePayload,
    Locator,
    Page,
    Request,
    Response,
    Route,
    expect,
)

from support.browser import (
    CHROMIUM,
    JWT,
    UI_TIMEOUT_MS,
    axe_violations,
    log_in,
    screenshot,
)
from support.live import LiveStack

MIB = 1024 * 1024
# Above web's multipart threshold (8 MiB): two parts, 8 MiB and 3 MiB.
BIG_BYTES = 11 * MIB
XSS_FILE = '<img src=x onerror="window.pwned=1">.txt'

pytestmark = [
    pytest.mark.browser,
    pytest.mark.requires_path(CHROMIUM, "Chromium (apt-get install chromium)"),
    pytest.mark.timeout(300),
]


def upload_row(page: Page, path: str, into: str = "#upload-list") -> Locator:
    return page.locator(f"{into} li").filter(has_text=path)


def download_bytes(page: Page, link: Locator) -> bytes:
    with page.expect_download() as info:
        link.click()
    saved = info.value.path()
    return Path(saved).read_bytes()


def test_upload_browse_download_move_delete_and_zip(
    chromium: Browser, https_stack: LiveStack, tmp_path: Path
) -> None:
    web = https_stack.urls["web"]
    files = https_stack.urls["files"]
    folder = f"web-files-{uuid.uuid4().hex[:8]}"
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    page = context.new_page()
    bodies: list[str] = []
    errors: list[str] = []
    part_puts: list[str] = []
    violations: dict[str, list[str]] = {}

    def keep(response: Response) -> None:
        kind = response.headers.get("content-type", "")
        if response.url.startswith(web) and any(t in kind for t in ("html", "javascript", "json")):
            bodies.append(response.text())

    def count_parts(request: Request) -> None:
        if request.method == "PUT" and "part_number=" in request.url:
            part_puts.append(re.sub(r".*part_number=(\d+).*", r"\1", request.url))

    page.on("response", keep)
    page.on("request", count_parts)
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, https_stack)

    # A folder of our own, made with the page's form, then opened.
    page.get_by_role("link", name="Files", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Files")
    page.get_by_label("New folder").fill(folder)
    page.get_by_role("button", name="Create folder").click()
    page.get_by_role("link", name=f"{folder}/").click()
    expect(page.locator(".breadcrumbs [aria-current=page]")).to_have_text(folder)
    # files.js (deferred) listens for the picked files once the page has loaded: files picked
    # before then would go unheard.
    page.wait_for_load_state()

    # Two files at once (one with a script in its name), then a whole folder.
    small = os.urandom(200_000)
    page.get_by_label("Upload files").set_input_files(
        [
            FilePayload(name="small.bin", mimeType="application/octet-stream", buffer=small),
            FilePayload(name=XSS_FILE, mimeType="text/plain", buffer=b"inert"),
        ]
    )
    for name in ("small.bin", XSS_FILE):
        row = upload_row(page, f"{folder}/{name}")
        expect(row.locator(".upload-status")).to_have_text("Uploaded")
        expect(row.locator("progress")).to_have_attribute("value", "100")
    batch = tmp_path / "batch"
    (batch / "sub").mkdir(parents=True)
    (batch / "a.txt").write_bytes(b"alpha\n")
    (batch / "sub" / "b.txt").write_bytes(b"beta\n")
    page.get_by_label("Upload a folder").set_input_files(str(batch))
    for name in ("batch/a.txt", "batch/sub/b.txt"):
        row = upload_row(page, f"{folder}/{name}")
        expect(row.locator(".upload-status")).to_have_text("Uploaded")

    # The listing refreshed itself: the folder and the files, the script-laden name as text.
    listing = page.locator("#listing")
    expect(listing.get_by_role("link", name="batch/")).to_be_visible()
    expect(listing.get_by_role("link", name="small.bin")).to_be_visible()
    expect(listing.get_by_role("link", name=XSS_FILE)).to_be_visible()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("main img").count() == 0
    violations["files"] = axe_violations(page)

    # A download is the same bytes.
    assert download_bytes(page, listing.get_by_role("link", name="small.bin")) == small

    # A big file in parts; its second part cut off on the way, as a closed laptop would.
    big = tmp_path / "reads.fastq"
    big.write_bytes(os.urandom(BIG_BYTES))

    def cut_off(route: Route) -> None:
        if "part_number=2" in route.request.url:
            route.abort()
        else:
            route.continue_()

    page.route(f"{files}/blobs/**", cut_off)
    page.get_by_label("Upload files").set_input_files(str(big))
    big_row = upload_row(page, f"{folder}/reads.fastq")
    expect(big_row.locator(".upload-error")).to_contain_text("interrupted")
    page.unroute(f"{files}/blobs/**")
    assert part_puts == ["1", "2"]

    # After a reload the page offers to resume; the same file again sends the missing part only.
    page.reload()
    resumable = page.locator("#resumable")
    expect(resumable).to_be_visible()
    violations["files resumable"] = axe_violations(page)
    page.get_by_label(f"Resume {folder}/reads.fastq").set_input_files(str(big))
    resumed = upload_row(page, f"{folder}/reads.fastq", "#resumable-list")
    expect(resumed.locator(".upload-status")).to_have_text("Uploaded")
    assert part_puts == ["1", "2", "2"]
    expect(listing.get_by_role("link", name="reads.fastq")).to_be_visible()
    # Finished: nothing left to resume.
    assert page.evaluate(
        "() => Object.keys(localStorage).filter(k => k.startsWith('nfhub.uploads.'))"
        ".every(k => localStorage.getItem(k) === '{}')"
    )
    assert download_bytes(page, listing.get_by_role("link", name="reads.fastq")) == big.read_bytes()

    # Move: into the uploaded folder, through the row's form.
    page.get_by_text("Copy or move small.bin").click()
    page.get_by_label("Destination of small.bin").fill(f"{folder}/batch/moved.bin")
    page.locator(f'tr[data-path="{folder}/small.bin"]').get_by_role("button", name="Move").click()
    expect(listing.get_by_role("link", name="small.bin")).to_have_count(0)

    # A refusal shown on its row: moving onto a taken name without overwrite.
    page.get_by_text(f"Copy or move {XSS_FILE}").click()
    page.get_by_label(f"Destination of {XSS_FILE}").fill(f"{folder}/reads.fastq")
    row = page.locator("tr").filter(has=page.get_by_role("link", name=XSS_FILE))
    row.get_by_role("button", name="Move").click()
    expect(row.get_by_role("alert")).to_be_visible()
    violations["files refused"] = axe_violations(page)

    # Delete, after a second question on a page of its own.
    page.get_by_role("button", name=f"Delete {XSS_FILE}").click()
    page.get_by_role("button", name=f"Delete {folder}/{XSS_FILE}").click()
    expect(page.get_by_role("link", name=XSS_FILE)).to_have_count(0)

    # A zip of the folder: its page follows the job, then the zip holds the moved file.
    page.get_by_label("Select batch").check()
    page.get_by_label("Zip file name").fill("batch.zip")
    page.get_by_role("button", name="Zip the selected").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Archive batch.zip")
    download = page.get_by_role("link", name="Download batch.zip")
    expect(download).to_be_visible()
    violations["archive"] = axe_violations(page)
    with zipfile.ZipFile(io.BytesIO(download_bytes(page, download))) as archive:
        assert sorted(archive.namelist()) == sorted(
            f"{folder}/batch/{name}" for name in ("a.txt", "sub/b.txt", "moved.bin")
        )
        assert archive.read(f"{folder}/batch/moved.bin") == small

    # A folder is deleted after a second question, on a page of its own.
    page.goto(f"{web}/files?path={folder}/")
    page.get_by_role("link", name="Delete batch").click()
    violations["delete folder"] = axe_violations(page)
    page.get_by_role("button", name=f"Delete {folder}/batch/").click()
    expect(page.get_by_role("link", name="batch/")).to_have_count(0)
    expect(page.get_by_role("link", name="reads.fastq")).to_be_visible()

    # For the README: a sequencing run's FASTQs uploaded into a folder of their own (its name
    # random, so a rerun on the same stack makes another), the upload list finished.
    run_folder = f"fastq/{datetime.now(UTC):%Y-%m}-RNA-{secrets.token_hex(2)}"
    with https_stack.client("files") as files_api:
        made = files_api.post(
            "/api/v1/files/folders", json={"path": run_folder}, headers=https_stack.headers
        )
        assert made.status_code == 201, made.text
    page.goto(f"{web}/files?path={run_folder}/")
    fastqs = [
        FilePayload(
            name=f"S{sample}_R{read}.fastq.gz",
            mimeType="application/gzip",
            buffer=os.urandom(300_000 + 90_000 * sample + 7_000 * read),
        )
        for sample in (1, 2)
        for read in (1, 2)
    ]
    page.get_by_label("Upload files").set_input_files(fastqs)
    for fastq in fastqs:
        row = upload_row(page, f"{run_folder}/{fastq['name']}")
        expect(row.locator(".upload-status")).to_have_text("Uploaded")
        expect(listing.get_by_role("link", name=fastq["name"])).to_be_visible()
    screenshot(page, "files")

    context.close()
    assert {name: found for name, found in violations.items() if found} == {}
    assert errors == []
    leaked = [body[:200] for body in bodies if JWT.search(body)]
    assert leaked == [], "an access token reached the browser"
