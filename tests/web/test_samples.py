"""The samples pages over miner: the searchable, paged list (and its htmx results), the
sample page, create/edit forms with miner's errors beside the fields, delete after a
confirmation, and the CSV import whose refused rows are shown with their errors; CSRF, other
projects' ids and script-laden values."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from markupsafe import escape

from nfhub_web.apis import ApiProblem, FieldError
from nfhub_web.samples import endpoints as sample_endpoints
from nfhub_web.samples import schemas as sample_schemas
from nfhub_web.samples import service as sample_service
from nfhub_web.samples.schemas import import_view
from support.inprocess import Team
from support.web import csrf_of
from support.web_miner import miner_app, miner_client, web_routes

__all__ = ["miner_app", "miner_client", "web_routes"]

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'
GOOD_SHEET = (
    "sample,patient,sex,status,fastq_1,fastq_2\n"
    "S1,P1,XX,0,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz\n"
    "S2,P1,XX,1,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz\n"
)
# Row 2's status is neither 0 nor 1; row 3 carries a script in a column miner keeps.
BAD_SHEET = (
    "sample,patient,sex,status,fastq_1,fastq_2,note\n"
    "S1,P1,XX,0,raw/S1_R1.fastq.gz,raw/S1_R2.fastq.gz,fine\n"
    "S2,P1,XX,7,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz,fine\n"
    f'S3,P1,XX,1,raw/S2_R1.fastq.gz,raw/S2_R2.fastq.gz,"{XSS.replace(chr(34), chr(34) * 2)}"\n'
)


def put_fastqs(team: Team, *samples: str) -> None:
    for sample in samples:
        for read in (1, 2):
            team.put(f"raw/{sample}_R{read}.fastq.gz", b"@r\nACGT\n+\nIIII\n")


async def create_sample(
    miner_client: httpx.AsyncClient, team: Team, display_id: str, **fields: Any
) -> dict[str, Any]:
    response = await miner_client.post(
        "/api/v1/samples", json={"display_id": display_id, **fields}, headers=team.headers("editor")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def count_samples(miner_client: httpx.AsyncClient, team: Team) -> int:
    listed = await miner_client.get("/api/v1/samples", headers=team.headers("editor"))
    count: int = listed.json()["count"]
    return count


class TestSamplesList:
    async def test_search_filters_and_paging_go_to_miner(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(sample_schemas, "SAMPLES_PER_PAGE", 2)
        monkeypatch.setattr(sample_endpoints, "SAMPLES_PER_PAGE", 2)
        subject = await miner_client.post(
            "/api/v1/subjects", json={"display_id": "P1"}, headers=team.headers("editor")
        )
        subject_id = subject.json()["id"]
        await create_sample(miner_client, team, "S1", subject_id=subject_id, sample_type="somatic")
        await create_sample(miner_client, team, "S2", subject_id=subject_id)
        await create_sample(miner_client, team, "BLOOD-3", properties={"site": "Lyon"})

        first = await editor_browser.get("/samples")
        second = await editor_browser.get("/samples", params={"offset": 2})
        found = await editor_browser.get("/samples", params={"q": "lyon"})
        somatic = await editor_browser.get("/samples", params={"sample_type": "somatic"})
        of_subject = await editor_browser.get("/samples", params={"subject_id": subject_id})

        assert first.status_code == 200, first.text
        assert "3 samples" in first.text
        assert ">BLOOD-3</a>" in first.text and ">S2</a>" in first.text
        assert ">S1</a>" not in first.text and ">S1</a>" in second.text
        assert 'href="/samples?offset=2" rel="next"' in first.text
        assert f'href="/subjects/{subject_id}">P1</a>' in second.text
        assert ">BLOOD-3</a>" in found.text and ">S1</a>" not in found.text
        assert "1 sample matching the search" in somatic.text and ">S1</a>" in somatic.text
        assert '<option value="somatic" selected>' in somatic.text
        assert "2 samples matching the search" in of_subject.text
        assert f'name="subject_id" value="{subject_id}"' in of_subject.text

    async def test_the_search_as_you_type_answers_its_results_alone(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        await create_sample(miner_client, team, "S1")

        results = await editor_browser.get(
            "/samples/results",
            params={"q": "s1", "sample_type": "unknown"},
            headers={"HX-Request": "true"},
        )
        refused = await editor_browser.get(
            "/samples/results", params={"sample_type": "blood"}, headers={"HX-Request": "true"}
        )
        page = await editor_browser.get("/samples")

        assert results.status_code == 200
        assert results.text.lstrip().startswith('<div id="sample-results">')
        assert ">S1</a>" in results.text
        assert results.headers["hx-push-url"] == "/samples?q=s1&sample_type=unknown"
        # The count is announced in the page's polite region, which the answer fills.
        assert (
            '<p id="sample-results-status" hx-swap-oob="innerHTML">1 sample matches the search</p>'
        ) in results.text
        assert re.search(
            r'<p id="sample-results-status" class="visually-hidden" role="status" '
            r'aria-live="polite"></p>\s*<div id="sample-results">',
            page.text,
        )
        # miner's verdict on a filter, swapped in beside that field.
        assert refused.status_code == 200
        assert re.search(
            r'<div id="sample-type-errors" class="field-error" hx-swap-oob="true"><p>\S',
            refused.text,
        )


class TestSampleForms:
    async def test_create_then_edit(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        put_fastqs(team, "S1")
        subject = await miner_client.post(
            "/api/v1/subjects", json={"display_id": "P1"}, headers=team.headers("editor")
        )
        subject_id = subject.json()["id"]
        form = await editor_browser.get("/samples/new", params={"subject_id": subject_id})
        assert f'<option value="{subject_id}" selected>P1</option>' in form.text

        created = await editor_browser.post(
            "/samples/new",
            data={
                "csrf_token": csrf_of(form.text),
                "display_id": "S1",
                "subject_id": subject_id,
                "sample_type": "germline",
                "tissue": "blood",
                "collection_date": "2024-05-01",
                "tags": "run-7",
                "properties": '{"read_length": 150}',
                "files": '[{"lane": "L001", "paths": {"fastq_1": "raw/S1_R1.fastq.gz",'
                ' "fastq_2": "raw/S1_R2.fastq.gz"}}]',
            },
        )

        assert created.status_code == 303, created.text
        sample_url = created.headers["location"]
        page = await editor_browser.get(sample_url)
        assert page.status_code == 200
        assert f'href="/subjects/{subject_id}">P1</a>' in page.text
        # Who made it, by name (admin names the project's members), not by user id.
        assert re.search(f"Created by</dt><dd>{re.escape(team.editor.username)}, ", page.text, re.I)
        assert "<code>raw/S1_R2.fastq.gz</code>" in page.text and "L001" in page.text
        assert '<th scope="row">read_length</th><td><code>150</code>' in page.text
        # miner's pipeline-ready JSON, resolved paths included.
        assert "Show the JSON" in page.text and "S1_R1.fastq.gz" in page.text

        edit = await editor_browser.get(f"{sample_url}/edit")
        assert '"fastq_1": "raw/S1_R1.fastq.gz"' in edit.text.replace("&#34;", '"')
        submitted = {
            "display_id": "S1",
            "subject_id": "",
            "sample_type": "somatic",
            "tissue": "",
            "files": "",
        }
        edited = await editor_browser.post(
            f"{sample_url}/edit", data={"csrf_token": csrf_of(edit.text), **submitted}
        )

        assert edited.status_code == 303, edited.text
        sample_id = sample_url.rsplit("/", 1)[1]
        stored = (
            await miner_client.get(f"/api/v1/samples/{sample_id}", headers=team.headers("editor"))
        ).json()
        assert stored["sample_type"] == "somatic" and stored["subject"] is None
        assert stored["tissue"] is None and stored["files"] == []

    async def test_a_subject_older_than_those_offered_stays_picked(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The select offers the newest subjects only: the subject page's "Add a sample" for
        an older one must not fall back to no subject."""
        monkeypatch.setattr(sample_service, "SUBJECTS_OFFERED", 1)
        older = await miner_client.post(
            "/api/v1/subjects", json={"display_id": "OLD-1"}, headers=team.headers("editor")
        )
        await miner_client.post(
            "/api/v1/subjects", json={"display_id": "NEW-1"}, headers=team.headers("editor")
        )
        older_id = older.json()["id"]

        form = await editor_browser.get("/samples/new", params={"subject_id": older_id})
        created = await editor_browser.post(
            "/samples/new",
            data={"csrf_token": csrf_of(form.text), "display_id": "S9", "subject_id": older_id},
        )
        nobody = str(uuid.uuid4())
        unknown = await editor_browser.get("/samples/new", params={"subject_id": nobody})

        assert f'<option value="{older_id}" selected>OLD-1</option>' in form.text
        assert ">NEW-1</option>" in form.text
        assert created.status_code == 303, created.text
        sample = await miner_client.get(
            f"/api/v1/samples/{created.headers['location'].rsplit('/', 1)[1]}",
            headers=team.headers("editor"),
        )
        assert sample.json()["subject"]["display_id"] == "OLD-1"
        assert unknown.status_code == 200 and f'value="{nobody}"' not in unknown.text

    async def test_miners_errors_are_shown_beside_their_fields(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        form = await editor_browser.get("/samples/new")
        csrf = csrf_of(form.text)

        malformed = await editor_browser.post(
            "/samples/new",
            data={
                "csrf_token": csrf,
                "display_id": "S 1",
                "properties": "[1, 2]",
                "files": '[{"paths": {"fastq_1": "/etc/passwd"}}]',
                "tissue": XSS,
            },
        )
        missing = await editor_browser.post(
            "/samples/new",
            data={
                "csrf_token": csrf,
                "display_id": "S1",
                "files": '[{"paths": {"fastq_1": "raw/nowhere.fastq.gz"}}]',
            },
        )

        assert malformed.status_code == 422, malformed.text
        for field in ("display-id", "properties", "files"):
            assert f'id="sample-{field}-error"' in malformed.text
            assert re.search(rf'id="sample-{field}"[^>]*aria-invalid="true"', malformed.text)
        # A nested field's error says where in the box.
        assert "files.0.paths.fastq_1: " in malformed.text
        assert XSS not in malformed.text and str(escape(XSS)) in malformed.text
        assert missing.status_code == 422, missing.text
        error = re.search(r'id="sample-files-error"><p>([^<]*)</p>', missing.text)
        assert error is not None and "raw/nowhere.fastq.gz" in error.group(1)
        assert await count_samples(miner_client, team) == 0

    async def test_without_the_csrf_token_nothing_changes(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        sample = await create_sample(miner_client, team, "S1")

        answers = [
            await editor_browser.post("/samples/new", data={"display_id": "S2"}),
            await editor_browser.post(
                f"/samples/{sample['id']}/edit", data={"display_id": "S9", "csrf_token": "x"}
            ),
            await editor_browser.post(f"/samples/{sample['id']}/delete"),
            await editor_browser.post(
                "/samples/import", files={"sheet": ("s.csv", GOOD_SHEET.encode(), "text/csv")}
            ),
        ]

        assert [answer.status_code for answer in answers] == [403] * 4
        listed = await miner_client.get("/api/v1/samples", headers=team.headers("editor"))
        assert [item["display_id"] for item in listed.json()["items"]] == ["S1"]

    async def test_script_laden_values_are_rendered_inert(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        sample = await create_sample(
            miner_client,
            team,
            "S1",
            tissue=XSS,
            barcode=XSS,
            properties={XSS: XSS},
            files=[{"paths": {"fastq_1": f"s3://bucket/{XSS}"}, "attributes": {"note": XSS}}],
        )

        page = await editor_browser.get(f"/samples/{sample['id']}")
        listed = await editor_browser.get("/samples")
        edit = await editor_browser.get(f"/samples/{sample['id']}/edit")

        for html in (page.text, listed.text, edit.text):
            assert XSS not in html
            assert "<script>alert" not in html and "<img" not in html
        assert page.text.count(str(escape(XSS))) >= 5  # tissue, barcode, property, path, note
        assert str(escape(XSS)) in listed.text


class TestSampleDeletion:
    async def test_delete_after_confirming(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        sample = await create_sample(miner_client, team, "S1")
        url = f"/samples/{sample['id']}/delete"

        confirm = await editor_browser.get(url)
        deleted = await editor_browser.post(url, data={"csrf_token": csrf_of(confirm.text)})

        assert confirm.status_code == 200 and "Delete sample <span" in confirm.text
        assert deleted.status_code == 303 and deleted.headers["location"] == "/samples"
        assert (await editor_browser.get(f"/samples/{sample['id']}")).status_code == 404


class TestImport:
    async def test_a_good_sheet_imports(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        put_fastqs(team, "S1", "S2")
        form = await editor_browser.get("/samples/import")

        imported = await editor_browser.post(
            "/samples/import",
            data={"csrf_token": csrf_of(form.text), "pipeline": ""},
            files={"sheet": ("sheet.csv", GOOD_SHEET.encode(), "text/csv")},
        )

        assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
        assert imported.status_code == 201, imported.text
        assert "2 rows made 2 samples and 1 new subject" in imported.text
        assert re.search(r'href="/samples/[0-9a-f-]{36}">S2</a>', imported.text)
        assert await count_samples(miner_client, team) == 2

    async def test_refused_rows_are_shown_with_their_errors_and_nothing_imports(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        put_fastqs(team, "S1", "S2")
        form = await editor_browser.get("/samples/import")

        refused = await editor_browser.post(
            "/samples/import",
            data={"csrf_token": csrf_of(form.text)},
            files={"sheet": ("bad sheet.csv", BAD_SHEET.encode(), "text/csv")},
        )

        assert refused.status_code == 422, refused.text
        assert "Nothing was imported" in refused.text
        rows = dict(
            re.findall(r'<tr id="import-row-(\d+)"[^>]*>(.*?)</tr>', refused.text, re.DOTALL)
        )
        assert list(rows) == ["1", "2", "3"]
        assert '<span class="ok">fine</span>' in rows["1"]
        assert "status: status &#39;7&#39; is neither 0 (normal) nor 1 (tumour)" in rows["2"]
        assert "<td>raw/S2_R1.fastq.gz</td>" in rows["2"]
        assert str(escape(XSS)) in rows["3"] and XSS not in refused.text
        assert await count_samples(miner_client, team) == 0

    async def test_a_sheet_miner_cannot_read_is_said_above_the_form(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        form = await editor_browser.get("/samples/import")

        empty = await editor_browser.post(
            "/samples/import",
            data={"csrf_token": csrf_of(form.text)},
            files={"sheet": ("empty.csv", b"", "text/csv")},
        )
        unknown_pipeline = await editor_browser.post(
            "/samples/import",
            data={"csrf_token": csrf_of(form.text), "pipeline": "Not A Slug"},
            files={"sheet": ("s.csv", GOOD_SHEET.encode(), "text/csv")},
        )

        assert empty.status_code == 422, empty.text
        assert "the sheet is empty" in empty.text
        assert unknown_pipeline.status_code == 422, unknown_pipeline.text
        assert "pipeline: " in unknown_pipeline.text

    async def test_a_sheet_larger_than_web_takes_never_reaches_miner(
        self,
        editor_browser: httpx.AsyncClient,
        web_app: FastAPI,
        miner_client: httpx.AsyncClient,
        team: Team,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(web_app.state.settings, "IMPORT_MAX_BYTES", 1024)
        put_fastqs(team, "S1", "S2")
        form = await editor_browser.get("/samples/import")
        padded = GOOD_SHEET + "\n" * 1024

        refused = await editor_browser.post(
            "/samples/import",
            data={"csrf_token": csrf_of(form.text)},
            files={"sheet": ("big.csv", padded.encode(), "text/csv")},
        )

        assert refused.status_code == 413, refused.text
        assert "at most 1024 bytes" in refused.text
        assert await count_samples(miner_client, team) == 0

    def test_json_lines_are_shown_a_line_a_row(self) -> None:
        problem = ApiProblem(422, "Import refused", "1 problem", [FieldError(None, "no", row=2)])

        view = import_view(b'{"sample": "S1"}\n{"sample": 1\n', "rows.JSONL", problem)

        assert view.header == ["line"]
        assert [(row.number, row.cells, row.errors) for row in view.rows] == [
            (1, ['{"sample": "S1"}'], []),
            (2, ['{"sample": 1'], ["no"]),
        ]

    def test_rows_are_numbered_as_miner_numbers_them(self) -> None:
        """Blank lines count (miner's row numbers do), semicolons split like commas, and a
        row miner names that the table cannot show is said above it."""
        problem = ApiProblem(
            422,
            "Import refused",
            "2 problems",
            [FieldError("fastq_1", "missing", row=3), FieldError(None, "bad", row=9)],
        )

        view = import_view(b"\xef\xbb\xbfsample;fastq_1\nS1;a\n\nS2;\n", "x.csv", problem)

        assert view.header == ["sample", "fastq_1"]
        assert [(row.number, row.cells, row.errors) for row in view.rows] == [
            (1, ["S1", "a"], []),
            (3, ["S2", ""], ["fastq_1: missing"]),
        ]
        assert view.general == ["row 9: bad"]


class TestOtherProjects:
    async def test_another_projects_sample_is_a_404_page(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        factory: Any,
    ) -> None:
        stranger = await factory.user()
        other = await factory.project(await factory.org(stranger), members={stranger: "editor"})
        theirs = await miner_client.post(
            "/api/v1/samples",
            json={"display_id": "THEIRS"},
            headers=dict(stranger.in_project(other)),
        )
        assert theirs.status_code == 201, theirs.text
        url = f"/samples/{theirs.json()['id']}"
        page = await editor_browser.get("/samples")
        csrf = csrf_of(page.text)

        answers = [
            await editor_browser.get(url),
            await editor_browser.get(f"{url}/edit"),
            await editor_browser.get(f"{url}/delete"),
            await editor_browser.post(f"{url}/edit", data={"csrf_token": csrf, "display_id": "X"}),
            await editor_browser.post(f"{url}/delete", data={"csrf_token": csrf}),
            await editor_browser.get(f"/samples/{uuid.uuid4()}"),
            await editor_browser.get("/samples/not-an-id"),
        ]

        assert [answer.status_code for answer in answers] == [404] * len(answers)
        assert all("THEIRS" not in answer.text for answer in answers)
        still = await miner_client.get(
            f"/api/v1/samples/{theirs.json()['id']}", headers=dict(stranger.in_project(other))
        )
        assert still.json()["display_id"] == "THEIRS"
