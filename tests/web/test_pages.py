"""The pages over compute and admin: runs list and run page, cancel, tokens, context."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from markupsafe import escape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_compute.events.parsing import TASK_STATUS_RANK
from nfhub_compute.models import RunLogChunk, Task
from support.inprocess import Launch, Team
from support.web import csrf_of

XSS_NAME = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture
async def queued_run(hello: dict[str, Any], launch: Launch) -> dict[str, Any]:
    response = await launch(name=XSS_NAME, labels=["batch:7"], params={"greeting": XSS_NAME})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class TestRunsList:
    async def test_lists_the_projects_runs_with_names_escaped(
        self, editor_browser: httpx.AsyncClient, queued_run: dict[str, Any], team: Team
    ) -> None:
        page = await editor_browser.get("/runs")

        assert page.status_code == 200, page.text
        assert f'href="/runs/{queued_run["id"]}"' in page.text
        assert XSS_NAME not in page.text
        assert str(escape(XSS_NAME)) in page.text
        assert "queued" in page.text
        # A run not finished yet: the rows poll for fresh state.
        assert 'hx-get="/runs/rows' in page.text
        assert f"{team.project_id}" not in page.text or "Project" in page.text

    async def test_filters_go_to_compute(
        self, editor_browser: httpx.AsyncClient, queued_run: dict[str, Any]
    ) -> None:
        running = await editor_browser.get("/runs", params={"state": "RUNNING"})
        labelled = await editor_browser.get("/runs", params={"label": "batch:7"})

        assert running.status_code == 200
        assert queued_run["id"] not in running.text
        assert "No runs match these filters" in running.text
        assert queued_run["id"] in labelled.text

    async def test_a_filter_compute_refuses_is_shown_beside_the_field(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/runs", params={"pipeline": "Not A Slug!"})

        assert page.status_code == 422
        assert 'id="filter-pipeline-error"' in page.text
        assert 'value="Not A Slug!"' in page.text

    async def test_an_unknown_state_is_a_bad_request(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/runs", params={"state": "SLEEPING"})

        assert page.status_code == 400
        assert "state" in page.text

    async def test_rows_fragment_stops_polling_once_runs_finish(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        set_run: Any,
    ) -> None:
        await set_run(queued_run["id"], state="COMPLETE")

        rows = await editor_browser.get("/runs/rows", headers={"HX-Request": "true"})

        assert rows.status_code == 200
        assert rows.text.lstrip().startswith("<tbody")
        assert "<html" not in rows.text
        assert "hx-trigger" not in rows.text
        assert "complete" in rows.text


class TestRunPage:
    async def test_shows_state_progress_tasks_and_outputs(
        self, editor_browser: httpx.AsyncClient, queued_run: dict[str, Any]
    ) -> None:
        page = await editor_browser.get(f"/runs/{queued_run['id']}")

        assert page.status_code == 200, page.text
        assert str(escape(XSS_NAME)) in page.text and XSS_NAME not in page.text
        assert page.text.count(str(escape(XSS_NAME))) >= 3  # title, heading, the greeting param
        assert '<th scope="row">greeting</th>' in page.text
        assert 'id="run-live"' in page.text
        assert f'hx-get="/runs/{queued_run["id"]}/live"' in page.text
        assert "Cancel run" in page.text
        assert "No tasks" in page.text
        assert "No outputs yet" in page.text

    async def test_names_who_launched_it(
        self, admin_browser: httpx.AsyncClient, queued_run: dict[str, Any], team: Team
    ) -> None:
        page = await admin_browser.get(f"/runs/{queued_run['id']}")

        assert page.status_code == 200, page.text
        assert queued_run["created_by"] == str(team.editor.id)
        assert f"<dt>Launched by</dt><dd>{team.editor.username.title()}, " in page.text
        assert str(team.editor.id) not in page.text

    async def test_a_launcher_gone_from_the_project_is_named_from_its_org(
        self,
        admin_browser: httpx.AsyncClient,
        admin_client: httpx.AsyncClient,
        queued_run: dict[str, Any],
        team: Team,
    ) -> None:
        removed = await admin_client.delete(
            f"/api/v1/projects/{team.project_id}/members/{team.editor.id}",
            headers=team.admin.headers,
        )
        assert removed.status_code == 204, removed.text

        page = await admin_browser.get(f"/runs/{queued_run['id']}")

        assert page.status_code == 200, page.text
        assert f"<dt>Launched by</dt><dd>{team.editor.username.title()}, " in page.text

    async def test_a_launcher_neither_lists_is_shown_by_id(
        self,
        admin_browser: httpx.AsyncClient,
        admin_client: httpx.AsyncClient,
        queued_run: dict[str, Any],
        team: Team,
        factory: Any,
    ) -> None:
        owner = await factory.user()
        await factory.join_org(team.org_id, owner, "owner")
        for place in (f"projects/{team.project_id}", f"orgs/{team.org_id}"):
            removed = await admin_client.delete(
                f"/api/v1/{place}/members/{team.editor.id}", headers=owner.headers
            )
            assert removed.status_code == 204, removed.text

        page = await admin_browser.get(f"/runs/{queued_run['id']}")

        assert page.status_code == 200, page.text
        assert f"<dt>Launched by</dt><dd>{team.editor.id}, " in page.text

    async def test_unknown_and_malformed_ids_are_404_pages(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        unknown = await editor_browser.get("/runs/00000000-0000-4000-8000-000000000000")
        malformed = await editor_browser.get("/runs/not-a-run")

        for page in (unknown, malformed):
            assert page.status_code == 404
            assert "<h1>Not found</h1>" in page.text

    async def test_another_projects_run_is_a_404_page(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        factory: Any,
        team: Team,
    ) -> None:
        other = await factory.project(team.org_id, members={team.editor: "editor"})
        context = await editor_browser.get("/context")
        picked = await editor_browser.post(
            "/context", data={"project_id": str(other), "csrf_token": csrf_of(context.text)}
        )
        assert picked.status_code == 303

        run_url = f"/runs/{queued_run['id']}"
        pages = [
            await editor_browser.get(run_url),
            await editor_browser.get(f"{run_url}/live"),
            await editor_browser.get(f"{run_url}/log"),
        ]
        cancel = await editor_browser.post(
            f"{run_url}/cancel", data={"csrf_token": csrf_of(context.text)}
        )

        for page in [*pages, cancel]:
            assert page.status_code == 404, page.text
            assert str(escape(XSS_NAME)) not in page.text

    async def test_cancel_needs_the_csrf_token(
        self, editor_browser: httpx.AsyncClient, queued_run: dict[str, Any]
    ) -> None:
        run_url = f"/runs/{queued_run['id']}"
        page = await editor_browser.get(run_url)

        refused = await editor_browser.post(f"{run_url}/cancel")
        assert refused.status_code == 403
        still = await editor_browser.get(f"{run_url}/live")
        assert "Cancel run" in still.text

        cancelled = await editor_browser.post(
            f"{run_url}/cancel", data={"csrf_token": csrf_of(page.text)}
        )
        assert cancelled.status_code == 303
        assert cancelled.headers["location"] == run_url
        live = await editor_browser.get(f"{run_url}/live")
        assert "Cancel run" not in live.text
        assert "cancel" in live.text

    async def test_cancelling_a_finished_run_shows_computes_answer(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        set_run: Any,
    ) -> None:
        page = await editor_browser.get(f"/runs/{queued_run['id']}")
        await set_run(queued_run["id"], state="COMPLETE")

        response = await editor_browser.post(
            f"/runs/{queued_run['id']}/cancel", data={"csrf_token": csrf_of(page.text)}
        )

        assert response.status_code == 409
        assert 'role="alert"' in response.text


class TestContext:
    async def test_the_pick_is_shown_and_saved_at_admin(
        self, editor_browser: httpx.AsyncClient, admin_client: httpx.AsyncClient, team: Team
    ) -> None:
        page = await editor_browser.get("/runs")

        assert 'id="current-context"' in page.text
        saved = await admin_client.get(
            "/api/v1/users/me/default-context", headers=team.editor.headers
        )
        assert saved.json()["project_id"] == str(team.project_id)

    async def test_a_project_the_user_cannot_see_is_refused(
        self, editor_browser: httpx.AsyncClient, factory: Any
    ) -> None:
        stranger = await factory.user()
        hidden = await factory.project(await factory.org(stranger))
        page = await editor_browser.get("/context")

        response = await editor_browser.post(
            "/context", data={"project_id": str(hidden), "csrf_token": csrf_of(page.text)}
        )

        assert response.status_code == 404
        assert 'role="alert"' in response.text


class TestTokens:
    async def test_create_shows_the_secret_once_then_revoke(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/tokens")
        csrf = csrf_of(page.text)

        created = await editor_browser.post(
            "/tokens", data={"name": "laptop <b>", "expires_in_days": "30", "csrf_token": csrf}
        )

        assert created.status_code == 201, created.text
        start = created.text.index('id="new-token">') + len('id="new-token">')
        secret = created.text[start : created.text.index("</code>", start)]
        assert len(secret) > 20
        assert "laptop &lt;b&gt;" in created.text
        listed = await editor_browser.get("/tokens")
        assert secret not in listed.text
        assert "laptop &lt;b&gt;" in listed.text
        token_id = listed.text.split('action="/tokens/')[1].split("/revoke")[0]

        revoked = await editor_browser.post(f"/tokens/{token_id}/revoke", data={"csrf_token": csrf})

        assert revoked.status_code == 303
        assert "laptop" not in (await editor_browser.get("/tokens")).text

    async def test_admins_field_errors_are_shown_beside_the_field(
        self, editor_browser: httpx.AsyncClient
    ) -> None:
        page = await editor_browser.get("/tokens")

        response = await editor_browser.post(
            "/tokens",
            data={"name": "x", "expires_in_days": "0", "csrf_token": csrf_of(page.text)},
        )
        # A digit int() does not read (str.isdigit() takes it): admin's refusal, not a 500.
        superscript = await editor_browser.post(
            "/tokens",
            data={"name": "x", "expires_in_days": "\u00b2", "csrf_token": csrf_of(page.text)},
        )

        assert response.status_code == 422
        assert 'id="token-days-error"' in response.text
        assert superscript.status_code == 422, superscript.text
        assert 'id="token-days-error"' in superscript.text

    async def test_create_without_csrf_is_refused(self, editor_browser: httpx.AsyncClient) -> None:
        response = await editor_browser.post("/tokens", data={"name": "sneaky"})

        assert response.status_code == 403
        assert "sneaky" not in (await editor_browser.get("/tokens")).text


@pytest.fixture
def add_tasks_and_log(
    session_factory: async_sessionmaker[AsyncSession],
) -> Callable[..., Awaitable[None]]:
    """Tasks and log lines of a run, as event ingestion and the worker would have stored them."""

    async def add(run_id: str, tasks: list[tuple[str, str]], log_lines: list[str]) -> None:
        async with session_factory() as db, db.begin():
            for number, (process, status) in enumerate(tasks, start=1):
                db.add(
                    Task(
                        run_id=uuid.UUID(run_id),
                        task_id=number,
                        status=status,
                        status_rank=TASK_STATUS_RANK[status],
                        process=process,
                        name=f"{process} ({number})",
                    )
                )
            db.add(
                RunLogChunk(
                    run_id=uuid.UUID(run_id),
                    source="console",
                    seq=0,
                    first_line=0,
                    lines=log_lines,
                    byte_count=sum(len(line) + 1 for line in log_lines),
                )
            )

    return add


class TestRunTasksAndLog:
    async def test_tasks_filter_sort_and_the_logs_tail(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        add_tasks_and_log: Callable[..., Awaitable[None]],
    ) -> None:
        lines = [f"line {n} <b>" for n in range(250)]
        await add_tasks_and_log(
            queued_run["id"],
            [("HELLO", "COMPLETED"), ("HELLO", "FAILED"), ("BYE", "COMPLETED")],
            lines,
        )
        url = f"/runs/{queued_run['id']}"

        page = await editor_browser.get(url)
        failed = await editor_browser.get(url, params={"task_status": "FAILED"})
        byes = await editor_browser.get(url, params={"process": "BYE"})
        by_name = await editor_browser.get(url, params={"sort": "name", "order": "desc"})

        assert page.status_code == 200, page.text
        assert "3 tasks" in page.text
        assert "1 task<" in failed.text and "HELLO (2)" in failed.text
        assert "1 task<" in byes.text and "BYE (3)" in byes.text
        assert by_name.text.index("HELLO (1)") < by_name.text.index("BYE (3)")
        assert 'aria-sort="descending"' in by_name.text
        # The log's last 200 lines, escaped, and a poll that starts where they start.
        assert "line 249 &lt;b&gt;" in page.text and "line 49 &lt;b&gt;" not in page.text
        assert "Lines 51\u2013250 of 250" in page.text
        assert f'hx-get="/runs/{queued_run["id"]}/log?source=console&amp;start=50"' in page.text

    async def test_the_log_poll_follows_new_lines(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        add_tasks_and_log: Callable[..., Awaitable[None]],
    ) -> None:
        await add_tasks_and_log(queued_run["id"], [], ["first", "second"])

        fragment = await editor_browser.get(
            f"/runs/{queued_run['id']}/log", params={"source": "console", "start": 1}
        )
        other = await editor_browser.get(
            f"/runs/{queued_run['id']}/log", params={"source": "nextflow"}
        )

        assert fragment.status_code == 200
        assert fragment.text.lstrip().startswith('<section id="run-log"')
        assert "second" in fragment.text and "first" not in fragment.text
        assert "Nothing logged yet" in other.text


class TestRelaunch:
    async def test_a_finished_run_relaunches_from_its_page(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        set_run: Any,
    ) -> None:
        await set_run(queued_run["id"], state="COMPLETE")
        page = await editor_browser.get(f"/runs/{queued_run['id']}")
        assert "Relaunch" in page.text and "Resume" in page.text

        refused = await editor_browser.post(f"/runs/{queued_run['id']}/relaunch")
        relaunched = await editor_browser.post(
            f"/runs/{queued_run['id']}/relaunch",
            data={"csrf_token": csrf_of(page.text), "resume": "false"},
        )

        assert refused.status_code == 403
        assert relaunched.status_code == 303
        new_run = relaunched.headers["location"]
        assert new_run.startswith("/runs/") and queued_run["id"] not in new_run
        shown = await editor_browser.get(new_run)
        assert shown.status_code == 200
        assert "queued" in shown.text

    async def test_computes_refusal_to_resume_is_shown(
        self,
        editor_browser: httpx.AsyncClient,
        queued_run: dict[str, Any],
        set_run: Any,
    ) -> None:
        # Never started: no Nextflow session to resume.
        await set_run(queued_run["id"], state="SYSTEM_ERROR")
        page = await editor_browser.get(f"/runs/{queued_run['id']}")

        response = await editor_browser.post(
            f"/runs/{queued_run['id']}/relaunch",
            data={"csrf_token": csrf_of(page.text), "resume": "true"},
        )

        assert response.status_code in (409, 422), response.text
        assert "<h1>Cannot resume</h1>" in response.text
        assert 'role="alert"' in response.text
