"""The Files pages against the real files API in-process: browsing, forms with CSRF, the
files API's refusals shown in place, the upload calls the page's script makes, and names that
stay text."""

from __future__ import annotations

import html
import io
import re
import uuid
import zipfile
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from markupsafe import escape

from nfhub_files.archives.worker import build_next_archive
from nfhub_web.config import Settings
from nfhub_web.files.schemas import FILES_PER_PAGE, breadcrumbs
from support.inprocess import Team
from support.web import csrf_of, logged_in

# No "/" (a path's separator): one name, every dangerous character of HTML in it.
XSS_NAME = "<img src=x onerror=alert(1)>\"<script>alert(2)&'.txt"
MIB = 1024 * 1024


# What the Files page's script sends with its JSON calls (files.js).
SCRIPT_ACCEPTS = {"Accept": "application/json"}


@pytest.fixture
def web_routes(
    admin_transport: httpx.ASGITransport, files_app: FastAPI
) -> dict[str, httpx.AsyncBaseTransport]:
    """The Files pages call admin (login) and files alone."""
    return {"admin.test": admin_transport, "files.test": httpx.ASGITransport(app=files_app)}


@pytest_asyncio.fixture
async def blobs(files_app: FastAPI) -> Any:
    """What the browser's script reaches besides web: the files service's signed URLs."""
    transport = httpx.ASGITransport(app=files_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://files.test") as client:
        yield client


def listed_paths(html: str) -> list[str]:
    return re.findall(r'<tr data-path="([^"]*)"', html)


async def page_and_csrf(browser: httpx.AsyncClient, url: str = "/files") -> tuple[str, str]:
    page = await browser.get(url)
    assert page.status_code == 200, page.text
    return page.text, csrf_of(page.text)


class TestBrowsing:
    async def test_folders_then_files_with_breadcrumbs(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("raw/run1/S1_R1.fastq.gz", b"@r1")
        team.put("raw/notes.txt", b"notes")
        team.put("top.csv", b"a,b\n")

        root = await editor_browser.get("/files")
        inner = await editor_browser.get("/files", params={"path": "raw"})

        assert root.status_code == 200
        assert listed_paths(root.text) == ["raw/", "top.csv"]
        assert 'href="/files?path=raw/"' in root.text
        assert 'href="/files/download?path=top.csv"' in root.text
        assert listed_paths(inner.text) == ["raw/run1/", "raw/notes.txt"]
        crumbs = inner.text.split('aria-label="Breadcrumb"')[1].split("</nav>")[0]
        assert 'href="/files">Project files</a>' in crumbs
        assert 'href="/files?path=raw/" aria-current="page">raw</a>' in crumbs
        assert 'aria-current="page">Files</a>' in root.text  # the nav's link

    def test_breadcrumbs_of_a_deep_folder(self) -> None:
        assert [(c.name, c.url) for c in breadcrumbs("a/b c/")] == [
            ("Project files", "/files"),
            ("a", "/files?path=a/"),
            ("b c", "/files?path=a/b%20c/"),
        ]

    async def test_a_long_folder_is_paged(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        for i in range(FILES_PER_PAGE + 3):
            team.put(f"many/f{i:04d}.txt", b"x")

        first = await editor_browser.get("/files", params={"path": "many/"})
        second = await editor_browser.get("/files", params={"path": "many/", "offset": 100})

        assert len(listed_paths(first.text)) == FILES_PER_PAGE
        assert 'href="/files?path=many/&amp;offset=100" rel="next"' in first.text
        assert listed_paths(second.text) == [f"many/f{i:04d}.txt" for i in range(100, 103)]
        assert "101\u2013103 of 103" in second.text

    async def test_an_empty_project_says_so(self, editor_browser: httpx.AsyncClient) -> None:
        page = await editor_browser.get("/files")

        assert page.status_code == 200
        assert "This folder is empty." in page.text

    async def test_a_missing_folder_is_a_404_page(self, editor_browser: httpx.AsyncClient) -> None:
        page = await editor_browser.get("/files", params={"path": "nowhere/"})

        assert page.status_code == 404, page.text
        assert 'role="alert"' in page.text

    async def test_the_listing_fragment_is_what_uploads_refresh(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"a")

        fragment = await editor_browser.get(
            "/files/listing", params={"path": "in/"}, headers={"HX-Request": "true"}
        )

        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<div id="listing"')
        assert listed_paths(fragment.text) == ["in/a.txt"]
        assert "<html" not in fragment.text

    async def test_login_is_needed(self, browser: httpx.AsyncClient) -> None:
        page = await browser.get("/files")

        assert page.status_code == 303
        assert page.headers["location"].startswith("/login?next=/files")


class TestPathsOutsideTheProject:
    @pytest.mark.parametrize(
        "path",
        ["../", "../../etc/", "/etc/", "a/../../", "%2e%2e/", "raw\x00/", "..\\..\\"],
    )
    async def test_traversal_is_refused_and_nothing_is_listed(
        self, editor_browser: httpx.AsyncClient, team: Team, path: str
    ) -> None:
        team.put("raw/mine.txt", b"mine")

        page = await editor_browser.get("/files", params={"path": path})

        assert page.status_code in (400, 404, 422), page.text
        assert listed_paths(page.text) == []
        assert 'role="alert"' in page.text

    async def test_another_projects_files_are_not_reachable(
        self, editor_browser: httpx.AsyncClient, team: Team, factory: Any
    ) -> None:
        owner = await factory.user()
        other_project = await factory.project(await factory.org(owner))
        other = team.storage.parent / str(other_project)
        (other / "secret").mkdir(parents=True)
        (other / "secret" / "key.txt").write_bytes(b"not yours")
        relative = f"../{other_project}/secret/"

        listing = await editor_browser.get("/files", params={"path": "secret/"})
        escape_attempt = await editor_browser.get("/files", params={"path": relative})
        download = await editor_browser.get(
            "/files/download", params={"path": f"../{other_project}/secret/key.txt"}
        )

        assert listing.status_code == 404
        assert escape_attempt.status_code in (400, 404, 422)
        assert download.status_code in (400, 404, 422)
        assert "location" not in download.headers
        for page in (listing, escape_attempt, download):
            assert "key.txt" not in page.text.replace(relative, "")


class TestForms:
    async def test_create_copy_move_and_delete(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"alpha")
        _, csrf = await page_and_csrf(editor_browser, "/files?path=in/")

        made = await editor_browser.post(
            "/files/folders", data={"folder": "in/", "name": "sub", "csrf_token": csrf}
        )
        copied = await editor_browser.post(
            "/files/transfer",
            data={
                "folder": "in/",
                "src": "in/a.txt",
                "dst": "in/sub/b.txt",
                "action": "copy",
                "csrf_token": csrf,
            },
        )
        moved = await editor_browser.post(
            "/files/transfer",
            data={
                "folder": "in/",
                "src": "in/a.txt",
                "dst": "in/c.txt",
                "action": "move",
                "csrf_token": csrf,
            },
        )
        deleted = await editor_browser.post(
            "/files/delete", data={"folder": "in/", "path": "in/sub/", "csrf_token": csrf}
        )

        for answer in (made, copied, moved, deleted):
            assert answer.status_code == 303, answer.text
            assert answer.headers["location"] == "/files?path=in/"
        assert listed_paths((await editor_browser.get("/files?path=in/")).text) == ["in/c.txt"]
        assert (team.storage / "in" / "c.txt").read_bytes() == b"alpha"
        assert not (team.storage / "in" / "sub").exists()

    async def test_a_folder_is_deleted_after_a_second_question(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/sub/a.txt", b"alpha")
        listing, _ = await page_and_csrf(editor_browser, "/files?path=in/")
        assert 'href="/files/delete?path=in/sub/&amp;folder=in/"' in listing

        question = await editor_browser.get("/files/delete?path=in/sub/&folder=in/")
        assert question.status_code == 200
        assert "every file and folder inside it" in question.text
        assert (team.storage / "in" / "sub" / "a.txt").exists()  # asking deletes nothing
        answered = await editor_browser.post(
            "/files/delete",
            data={"folder": "in/", "path": "in/sub/", "csrf_token": csrf_of(question.text)},
        )

        assert answered.status_code == 303
        assert not (team.storage / "in" / "sub").exists()

    async def test_a_file_is_deleted_after_a_second_question_too(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"alpha")
        listing, _ = await page_and_csrf(editor_browser, "/files?path=in/")
        # No row deletes in one click: a file's button asks on a page of its own (a GET).
        assert 'method="post" action="/files/delete"' not in listing
        assert '<form method="get" action="/files/delete" class="delete">' in listing

        question = await editor_browser.get("/files/delete?path=in/a.txt&folder=in/")
        assert question.status_code == 200
        assert "Delete the file in/a.txt?" in question.text
        assert "every file and folder" not in question.text
        assert (team.storage / "in" / "a.txt").exists()  # asking deletes nothing
        answered = await editor_browser.post(
            "/files/delete",
            data={"folder": "in/", "path": "in/a.txt", "csrf_token": csrf_of(question.text)},
        )

        assert answered.status_code == 303
        assert answered.headers["location"] == "/files?path=in/"
        assert not (team.storage / "in" / "a.txt").exists()

    @pytest.mark.parametrize(
        ("url", "data"),
        [
            ("/files/folders", {"name": "x"}),
            ("/files/transfer", {"src": "in/a.txt", "dst": "in/b.txt", "action": "move"}),
            ("/files/delete", {"path": "in/a.txt"}),
            ("/files/archives", {"name": "a.zip", "paths": ["in/a.txt"]}),
        ],
    )
    async def test_a_form_without_csrf_is_refused(
        self, editor_browser: httpx.AsyncClient, team: Team, url: str, data: dict[str, Any]
    ) -> None:
        team.put("in/a.txt", b"alpha")
        await editor_browser.get("/files")

        missing = await editor_browser.post(url, data=data)
        wrong = await editor_browser.post(url, data={**data, "csrf_token": "forged"})

        assert missing.status_code == 403
        assert wrong.status_code == 403
        assert (team.storage / "in" / "a.txt").read_bytes() == b"alpha"
        assert listed_paths((await editor_browser.get("/files?path=in/")).text) == ["in/a.txt"]

    async def test_a_taken_destination_is_shown_on_its_row(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"alpha")
        team.put("in/b.txt", b"beta")
        _, csrf = await page_and_csrf(editor_browser, "/files?path=in/")

        refused = await editor_browser.post(
            "/files/transfer",
            data={
                "folder": "in/",
                "src": "in/a.txt",
                "dst": "in/b.txt",
                "action": "move",
                "csrf_token": csrf,
            },
        )

        assert refused.status_code == 409, refused.text
        row = refused.text.split('<tr data-path="in/a.txt">')[1].split("</tr>")[0]
        assert "<details open>" in row
        assert 'role="alert"' in row and "overwrite" in row.lower()
        assert 'aria-invalid="true"' in row
        assert (team.storage / "in" / "b.txt").read_bytes() == b"beta"

    async def test_an_invalid_folder_name_is_shown_beside_the_field(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        _, csrf = await page_and_csrf(editor_browser)

        refused = await editor_browser.post(
            "/files/folders", data={"folder": "", "name": "../up", "csrf_token": csrf}
        )

        assert refused.status_code in (400, 422), refused.text
        assert 'id="new-folder-error" role="alert"' in refused.text
        assert 'value="../up"' in refused.text

    async def test_a_viewer_is_refused_by_the_api(
        self, browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"alpha")
        await logged_in(browser, team.viewer, team.project_id)
        _, csrf = await page_and_csrf(browser, "/files?path=in/")

        refused = await browser.post(
            "/files/delete", data={"folder": "in/", "path": "in/a.txt", "csrf_token": csrf}
        )

        assert refused.status_code == 403, refused.text
        row = refused.text.split('<tr data-path="in/a.txt">')[1].split("</tr>")[0]
        assert 'role="alert"' in row
        assert (team.storage / "in" / "a.txt").exists()


class TestDownloadsAndArchives:
    async def test_a_download_goes_to_the_signed_url(
        self, editor_browser: httpx.AsyncClient, blobs: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("in/a.txt", b"alpha")

        redirect = await editor_browser.get("/files/download", params={"path": "in/a.txt"})

        assert redirect.status_code == 303
        location = redirect.headers["location"]
        assert location.startswith("http://files.test/blobs/")
        assert "signature=" in location
        assert (await blobs.get(location)).content == b"alpha"

    async def test_a_zip_of_the_selected_rows(
        self,
        editor_browser: httpx.AsyncClient,
        blobs: httpx.AsyncClient,
        files_app: FastAPI,
        team: Team,
    ) -> None:
        team.put("in/a.txt", b"alpha")
        team.put("in/sub/b.txt", b"beta")
        _, csrf = await page_and_csrf(editor_browser, "/files?path=in/")

        queued = await editor_browser.post(
            "/files/archives",
            data={
                "folder": "in/",
                "name": "picked.zip",
                "paths": ["in/a.txt", "in/sub/"],
                "csrf_token": csrf,
            },
        )
        assert queued.status_code == 303, queued.text
        archive_page = queued.headers["location"]
        waiting = await editor_browser.get(archive_page)
        await build_next_archive(files_app)
        ready = await editor_browser.get(f"{archive_page}/status")

        assert "Being built" in waiting.text
        assert 'hx-trigger="every' in waiting.text
        assert "hx-trigger" not in ready.text  # no more polling
        link = re.search(r'id="archive-download"', ready.text)
        assert link is not None, ready.text
        url = re.search(r'href="([^"]+)" id="archive-download"', ready.text)
        assert url is not None
        zipped = await blobs.get(html.unescape(url.group(1)))
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            assert sorted(archive.namelist()) == ["in/a.txt", "in/sub/b.txt"]

    async def test_a_zip_of_nothing_is_refused_in_place(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        _, csrf = await page_and_csrf(editor_browser)

        refused = await editor_browser.post(
            "/files/archives", data={"folder": "", "name": "none.zip", "csrf_token": csrf}
        )

        assert refused.status_code == 422, refused.text
        assert 'id="archive-error" role="alert"' in refused.text

    async def test_another_projects_archive_is_a_404(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get(f"/files/archives/{uuid.uuid4()}")

        assert page.status_code == 404


class TestUploadCalls:
    """What files.js calls on web: JSON with the CSRF header, the files API's answers passed on."""

    async def test_one_put_upload(
        self, editor_browser: httpx.AsyncClient, blobs: httpx.AsyncClient, team: Team
    ) -> None:
        _, csrf = await page_and_csrf(editor_browser)

        signed = await editor_browser.post(
            "/files/uploads",
            json={"path": "up/one.txt", "size": 3, "content_type": "text/plain"},
            headers={"X-CSRF-Token": csrf},
        )
        assert signed.status_code == 200, signed.text
        body = signed.json()
        put = await blobs.put(body["url"], content=b"one", headers=body["headers"])

        assert put.status_code == 200, put.text
        assert (team.storage / "up" / "one.txt").read_bytes() == b"one"
        assert "Bearer" not in signed.text and "access_token" not in signed.text

    async def test_a_multipart_upload_resumes_where_it_stopped(
        self, editor_browser: httpx.AsyncClient, blobs: httpx.AsyncClient, team: Team
    ) -> None:
        data = bytes(range(256)) * (6 * MIB // 256)
        _, csrf = await page_and_csrf(editor_browser)
        headers = {"X-CSRF-Token": csrf}
        started = await editor_browser.post(
            "/files/uploads/multipart",
            json={"path": "big/reads.bin", "size": len(data), "part_size": 5 * MIB},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        upload = started.json()
        assert len(upload["parts"]) >= 2
        first = upload["parts"][0]
        put = await blobs.put(first["url"], content=data[: first["size"]])
        assert put.status_code == 200, put.text

        # The page reloaded: it asks which parts the store has.
        resumed = await editor_browser.get(f"/files/uploads/multipart/{upload['id']}")
        assert resumed.status_code == 200, resumed.text
        state = resumed.json()
        assert [p["part_number"] for p in state["uploaded_parts"]] == [1]
        etags = {1: put.headers["etag"]}
        for part in state["parts"]:
            begin = (part["part_number"] - 1) * state["part_size"]
            answer = await blobs.put(part["url"], content=data[begin : begin + part["size"]])
            etags[part["part_number"]] = answer.headers["etag"]
        done = await editor_browser.post(
            f"/files/uploads/multipart/{upload['id']}/complete",
            json={"parts": [{"part_number": n, "etag": e} for n, e in sorted(etags.items())]},
            headers=headers,
        )

        assert done.status_code == 200, done.text
        assert (team.storage / "big" / "reads.bin").read_bytes() == data

    async def test_refusals_come_back_as_problem_json(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        team.put("taken/a.txt", b"a file")
        _, csrf = await page_and_csrf(editor_browser)
        headers = {"X-CSRF-Token": csrf}

        escaping = await editor_browser.post(
            "/files/uploads", json={"path": "../x.txt", "size": 1}, headers=headers
        )
        in_the_way = await editor_browser.post(
            "/files/uploads/multipart", json={"path": "taken", "size": 1}, headers=headers
        )
        unknown = await editor_browser.get(f"/files/uploads/multipart/{uuid.uuid4()}")
        aborted = await editor_browser.delete(
            f"/files/uploads/multipart/{uuid.uuid4()}", headers=headers
        )

        for answer, status in ((escaping, 400), (in_the_way, 409), (unknown, 404), (aborted, 404)):
            assert answer.status_code == status, answer.text
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["detail"]

    async def test_no_upload_without_the_csrf_header(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        await editor_browser.get("/files")

        refused = await editor_browser.post(
            "/files/uploads", json={"path": "a.txt", "size": 1}, headers=SCRIPT_ACCEPTS
        )

        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Request refused"
        assert "CSRF token" in refused.json()["detail"]

    async def test_a_bad_body_is_problem_json_naming_the_field(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        _, csrf = await page_and_csrf(editor_browser)

        refused = await editor_browser.post(
            "/files/uploads",
            json={"path": "a.txt", "size": "big"},
            headers={**SCRIPT_ACCEPTS, "X-CSRF-Token": csrf},
        )

        assert refused.status_code == 400
        assert refused.headers["content-type"] == "application/problem+json"
        assert "size" in refused.json()["detail"]
        assert [error["field"] for error in refused.json()["errors"]] == ["size"]

    async def test_a_script_call_after_the_login_ended_is_a_401_problem(
        self, browser: httpx.AsyncClient
    ) -> None:
        ended = await browser.get(
            f"/files/uploads/multipart/{uuid.uuid4()}", headers=SCRIPT_ACCEPTS
        )

        assert ended.status_code == 401
        assert ended.headers["content-type"] == "application/problem+json"
        assert "reload the page" in ended.json()["detail"]

    async def test_a_page_is_still_an_html_page(self, editor_browser: httpx.AsyncClient) -> None:
        await editor_browser.get("/files")

        refused = await editor_browser.post("/files/uploads", json={"path": "a.txt", "size": 1})

        assert refused.status_code == 403
        assert refused.headers["content-type"].startswith("text/html")

    async def test_the_pages_policy_lets_scripts_reach_the_files_service_only(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/files")

        csp = page.headers["content-security-policy"]
        assert "connect-src 'self' http://files.test;" in csp
        assert "script-src 'self';" in csp
        assert '<script src="/static/files.js" defer></script>' in page.text
        assert "<script>" not in page.text


class TestInertNames:
    async def test_script_payloads_in_names_are_text(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        folder = '"><svg onload=alert(3)>'
        team.put(f"{folder}/{XSS_NAME}", b"x")

        root = await editor_browser.get("/files")
        inner = await editor_browser.get("/files", params={"path": folder + "/"})

        for page in (root, inner):
            assert page.status_code == 200, page.text
            assert "<script>alert" not in page.text
            assert "<img src=x" not in page.text
            assert "<svg onload" not in page.text
        assert str(escape(XSS_NAME)) in inner.text
        assert str(escape(folder)) in root.text


def test_the_policy_names_the_origin_browsers_reach_files_at() -> None:
    """connect-src names where the signed URLs point: FILES_URL, or FILES_PUBLIC_URL if set."""
    assert Settings(FILES_URL="http://files.test/").files_origin == "http://files.test"
    public = Settings(FILES_URL="http://files:8003", FILES_PUBLIC_URL="https://f.example.org:8443/")
    assert public.files_origin == "https://f.example.org:8443"
