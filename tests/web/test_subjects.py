"""The subjects pages over miner: the searchable, paged list (and its htmx results), the
subject page, create/edit forms with miner's errors beside the fields, delete after a
confirmation; CSRF, other projects' ids and script-laden values."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from markupsafe import escape

from nfhub_web.subjects import endpoints as subject_endpoints
from nfhub_web.subjects import schemas as subject_schemas
from support.inprocess import Team
from support.web import csrf_of, logged_in
from support.web_miner import miner_app, miner_client, web_routes

__all__ = ["miner_app", "miner_client", "web_routes"]

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'


async def create_subject(
    miner_client: httpx.AsyncClient, team: Team, display_id: str, **fields: Any
) -> dict[str, Any]:
    response = await miner_client.post(
        "/api/v1/subjects",
        json={"display_id": display_id, **fields},
        headers=team.headers("editor"),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestSubjectsList:
    async def test_search_and_paging_go_to_miner(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(subject_schemas, "SUBJECTS_PER_PAGE", 2)
        monkeypatch.setattr(subject_endpoints, "SUBJECTS_PER_PAGE", 2)
        for number in range(3):
            await create_subject(miner_client, team, f"PAT-{number}", tags=["cohort-a"])
        await create_subject(miner_client, team, "OTHER-9", properties={"site": "Lyon"})

        first = await editor_browser.get("/subjects")
        second = await editor_browser.get("/subjects", params={"offset": 2})
        past_the_end = await editor_browser.get("/subjects", params={"offset": 50})
        found = await editor_browser.get("/subjects", params={"q": "lyon"})
        tagged = await editor_browser.get("/subjects", params={"tag": "cohort-a"})

        assert first.status_code == 200, first.text
        assert "4 subjects" in first.text
        # Newest first, two to a page.
        assert ">OTHER-9</a>" in first.text and ">PAT-2</a>" in first.text
        assert ">PAT-1</a>" not in first.text
        assert 'href="/subjects?offset=2" rel="next"' in first.text
        assert ">PAT-1</a>" in second.text and ">PAT-0</a>" in second.text
        # A stale link past the end: not "no subjects yet", and the way back to the last page.
        assert "None on this page." in past_the_end.text
        assert "in this project yet" not in past_the_end.text
        assert 'href="/subjects?offset=2" rel="prev">Back to the last page' in past_the_end.text
        assert ">OTHER-9</a>" in found.text and ">PAT-" not in found.text
        assert "3 subjects matching the search" in tagged.text

    async def test_the_search_as_you_type_answers_its_results_alone(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        await create_subject(miner_client, team, "PAT-7")

        page = await editor_browser.get("/subjects")
        results = await editor_browser.get(
            "/subjects/results", params={"q": "pat"}, headers={"HX-Request": "true"}
        )

        assert 'hx-get="/subjects/results"' in page.text
        assert results.status_code == 200
        assert results.text.lstrip().startswith('<div id="subject-results">')
        assert "<html" not in results.text and ">PAT-7</a>" in results.text
        # The address bar shows the full page of this search.
        assert results.headers["hx-push-url"] == "/subjects?q=pat"
        # The count is announced: the page's polite region stays, each answer fills it.
        assert re.search(
            r'<p id="subject-results-status" class="visually-hidden" role="status" '
            r'aria-live="polite"></p>\s*<div id="subject-results">',
            page.text,
        )
        assert (
            '<p id="subject-results-status" hx-swap-oob="innerHTML">'
            "1 subject matches the search</p>"
        ) in results.text

    async def test_a_search_miner_refuses_is_shown_beside_the_field(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/subjects", params={"q": "--"})
        results = await editor_browser.get(
            "/subjects/results", params={"q": "--"}, headers={"HX-Request": "true"}
        )

        assert page.status_code == 422, page.text
        slot = re.search(r'<div id="subject-q-errors" class="field-error">(.*?)</div>', page.text)
        assert slot is not None and "pattern" in slot.group(1)
        # The fragment: 200 (htmx swaps only those), the message swapped in beside the field.
        assert results.status_code == 200
        assert re.search(
            r'<div id="subject-q-errors" class="field-error" hx-swap-oob="true"><p>.*pattern',
            results.text,
        )


class TestSubjectForms:
    async def test_create_then_edit(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        form = await editor_browser.get("/subjects/new")

        created = await editor_browser.post(
            "/subjects/new",
            data={
                "csrf_token": csrf_of(form.text),
                "display_id": "PAT-1",
                "sex": "female",
                "date_of_birth": "1980-02-03",
                "external_id": "MRN-44",
                "diagnosis": "",
                "tags": "cohort-a, batch-2",
                "properties": '{"site": "Lyon", "consent": true}',
            },
        )

        assert created.status_code == 303, created.text
        subject_url = created.headers["location"]
        page = await editor_browser.get(subject_url)
        assert page.status_code == 200
        assert "<h1>Subject <span" in page.text and "PAT-1" in page.text
        assert "1980-02-03" in page.text and "MRN-44" in page.text
        assert '<span class="label">batch-2</span>' in page.text
        assert '<th scope="row">consent</th><td><code>true</code>' in page.text
        # Who made it, by name (admin names the project's members), not by user id.
        assert re.search(f"Created by</dt><dd>{re.escape(team.editor.username)}, ", page.text, re.I)
        assert str(team.editor.id) not in page.text

        edit = await editor_browser.get(f"{subject_url}/edit")
        assert 'value="PAT-1"' in edit.text and "cohort-a batch-2" in edit.text
        assert '<option value="female" selected>' in edit.text
        edited = await editor_browser.post(
            f"{subject_url}/edit",
            data={
                "csrf_token": csrf_of(edit.text),
                "display_id": "PAT-1b",
                "sex": "female",
                "date_of_birth": "",
                "external_id": "MRN-44",
                "tags": "",
                "properties": "{}",
            },
        )

        assert edited.status_code == 303, edited.text
        subject_id = subject_url.rsplit("/", 1)[1]
        stored = await miner_client.get(
            f"/api/v1/subjects/{subject_id}", headers=team.headers("editor")
        )
        body = stored.json()
        assert body["display_id"] == "PAT-1b"
        assert body["date_of_birth"] is None and body["tags"] == [] and body["properties"] == {}

    async def test_miners_errors_are_shown_beside_their_fields(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        await create_subject(miner_client, team, "PAT-1")
        form = await editor_browser.get("/subjects/new")

        refused = await editor_browser.post(
            "/subjects/new",
            data={
                "csrf_token": csrf_of(form.text),
                "display_id": "has space",
                "date_of_birth": "2999-01-01",
                "properties": "{not json",
                "diagnosis": XSS,
            },
        )
        taken = await editor_browser.post(
            "/subjects/new", data={"csrf_token": csrf_of(form.text), "display_id": "PAT-1"}
        )
        # Deeper than Python's JSON parser goes: miner's refusal beside the box, not a 500.
        too_deep = await editor_browser.post(
            "/subjects/new",
            data={
                "csrf_token": csrf_of(form.text),
                "display_id": "PAT-2",
                "properties": "[" * 5000,
            },
        )

        assert refused.status_code == 422, refused.text
        for field in ("display-id", "date-of-birth", "properties"):
            assert f'id="subject-{field}-error"' in refused.text
            assert re.search(rf'id="subject-{field}"[^>]*aria-invalid="true"', refused.text)
        assert "cannot be in the future" in refused.text
        # What was typed stays, inert.
        assert XSS not in refused.text and str(escape(XSS)) in refused.text
        assert "{not json</textarea>" in refused.text
        # A conflict names no field: above the form.
        assert taken.status_code == 409
        assert re.search(r'id="form-problem">\s*<p>This project already has a subject', taken.text)
        assert too_deep.status_code == 422, too_deep.text
        assert 'id="subject-properties-error"' in too_deep.text
        listed = await miner_client.get("/api/v1/subjects", headers=team.headers("editor"))
        assert listed.json()["count"] == 1

    async def test_without_the_csrf_token_nothing_is_created(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        refused = await editor_browser.post("/subjects/new", data={"display_id": "PAT-1"})
        forged = await editor_browser.post(
            "/subjects/new", data={"display_id": "PAT-1", "csrf_token": "forged"}
        )

        assert refused.status_code == 403 and forged.status_code == 403
        assert "CSRF" in refused.text
        listed = await miner_client.get("/api/v1/subjects", headers=team.headers("editor"))
        assert listed.json()["count"] == 0

    async def test_a_viewer_is_told_miner_refused(
        self,
        browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
    ) -> None:
        """Who may edit is miner's rule: a viewer gets the form, and miner's 403 as a page."""
        await logged_in(browser, team.viewer, team.project_id)
        form = await browser.get("/subjects/new")

        refused = await browser.post(
            "/subjects/new", data={"csrf_token": csrf_of(form.text), "display_id": "PAT-1"}
        )

        assert form.status_code == 200
        assert refused.status_code == 403, refused.text
        assert "<h1>Not allowed</h1>" in refused.text
        listed = await miner_client.get("/api/v1/subjects", headers=team.headers("editor"))
        assert listed.json()["count"] == 0

    async def test_script_laden_values_are_rendered_inert(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        subject = await create_subject(
            miner_client,
            team,
            "PAT-1",
            diagnosis=XSS,
            external_id=XSS,
            properties={XSS: XSS, "nested": {"html": XSS}},
        )

        page = await editor_browser.get(f"/subjects/{subject['id']}")
        listed = await editor_browser.get("/subjects")
        edit = await editor_browser.get(f"/subjects/{subject['id']}/edit")

        for html in (page.text, listed.text, edit.text):
            assert XSS not in html
            assert "<script>alert" not in html and "<img" not in html
        assert page.text.count(str(escape(XSS))) >= 3  # diagnosis, external id, property
        assert str(escape(XSS)) in listed.text


class TestSubjectDeletion:
    async def test_a_subject_with_samples_goes_only_with_them(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team
    ) -> None:
        subject = await create_subject(miner_client, team, "PAT-1")
        sample = await miner_client.post(
            "/api/v1/samples",
            json={"display_id": "S1", "subject_id": subject["id"]},
            headers=team.headers("editor"),
        )
        assert sample.status_code == 201, sample.text
        url = f"/subjects/{subject['id']}/delete"

        confirm = await editor_browser.get(url)
        kept = await editor_browser.post(url, data={"csrf_token": csrf_of(confirm.text)})
        gone = await editor_browser.post(
            url, data={"csrf_token": csrf_of(confirm.text), "cascade": "true"}
        )

        assert confirm.status_code == 200
        assert "Delete subject <span" in confirm.text and 'name="cascade"' in confirm.text
        assert kept.status_code == 409
        assert "has 1 sample(s)" in kept.text
        assert gone.status_code == 303 and gone.headers["location"] == "/subjects"
        after = await editor_browser.get(f"/subjects/{subject['id']}")
        assert after.status_code == 404


class TestOtherProjects:
    async def test_another_projects_subject_is_a_404_page(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        factory: Any,
    ) -> None:
        stranger = await factory.user()
        other = await factory.project(await factory.org(stranger), members={stranger: "editor"})
        theirs = await miner_client.post(
            "/api/v1/subjects",
            json={"display_id": "THEIRS", "diagnosis": XSS},
            headers=dict(stranger.in_project(other)),
        )
        assert theirs.status_code == 201, theirs.text
        url = f"/subjects/{theirs.json()['id']}"
        page = await editor_browser.get("/subjects")
        csrf = csrf_of(page.text)

        answers = [
            await editor_browser.get(url),
            await editor_browser.get(f"{url}/edit"),
            await editor_browser.get(f"{url}/delete"),
            await editor_browser.post(f"{url}/edit", data={"csrf_token": csrf, "display_id": "X"}),
            await editor_browser.post(f"{url}/delete", data={"csrf_token": csrf}),
            await editor_browser.get(f"/subjects/{uuid.uuid4()}"),
            await editor_browser.get("/subjects/not-an-id"),
        ]

        assert [answer.status_code for answer in answers] == [404] * len(answers)
        assert all("THEIRS" not in answer.text for answer in answers)
        still = await miner_client.get(
            url.replace("/subjects", "/api/v1/subjects"), headers=dict(stranger.in_project(other))
        )
        assert still.json()["display_id"] == "THEIRS"
