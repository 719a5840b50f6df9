"""The orders pages over miner in-process: create, samples and roles, the samplesheet, moves
through the status machine (only miner's allowed ones offered, its refusals shown), history;
CSRF, another project's order and script-laden fields."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio
from markupsafe import escape
from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_miner.models import Order
from nfhub_web.apis import ApiProblem, FieldError
from nfhub_web.forms import FormErrors
from nfhub_web.orders.schemas import ORDERS_PER_PAGE, OrderFilters, Samplesheet
from support.inprocess import Team
from support.web import csrf_of, logged_in
from support.web_miner import miner_app, miner_client, web_routes

__all__ = ["miner_app", "miner_client", "web_routes"]

XSS = '<script>alert(1)</script><img src=x onerror="alert(2)">'
BUTTON = re.compile(r'<button type="submit" name="to" value="([a-z_]+)"')


async def made(
    miner_client: httpx.AsyncClient, headers: dict[str, str], collection: str, **body: Any
) -> dict[str, Any]:
    response = await miner_client.post(f"/api/v1/{collection}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def sample(miner_client: httpx.AsyncClient, team: Team, name: str) -> dict[str, Any]:
    """A sample with its two FASTQs in the project's storage."""
    paths = {}
    for read in ("1", "2"):
        paths[f"fastq_{read}"] = f"raw/{name}_R{read}.fastq.gz"
        team.put(paths[f"fastq_{read}"], b"@r1\nACGT\n+\nIIII\n")
    return await made(
        miner_client, team.headers("editor"), "samples", display_id=name, files=[{"paths": paths}]
    )


@pytest_asyncio.fixture
async def order(
    miner_client: httpx.AsyncClient, team: Team, hello: dict[str, Any]
) -> dict[str, Any]:
    """ORD-1 for hello, with S1 as the proband."""
    s1 = await sample(miner_client, team, "S1")
    created = await made(
        miner_client,
        team.headers("editor"),
        "orders",
        display_id="ORD-1",
        pipeline="hello",
        samples=[{"sample_id": s1["id"], "role": "proband"}],
    )
    return {**created, "s1_id": s1["id"]}


def offered_moves(html: str) -> list[str]:
    return BUTTON.findall(html)


class TestPieces:
    def test_filters_page_and_keep_the_status(self) -> None:
        filters = OrderFilters("sign_off", 100)

        assert filters.api_params() == {
            "limit": ORDERS_PER_PAGE,
            "offset": 100,
            "status": "sign_off",
        }
        assert filters.page_prefix() == "/orders?status=sign_off&offset="
        assert OrderFilters().page_prefix() == "/orders?offset="

    def test_miners_field_errors_land_on_the_form_fields(self) -> None:
        problem = ApiProblem(
            422,
            "Not valid",
            "check",
            [
                FieldError("samples.0.role", "bad role"),
                FieldError("samples.1.role", "second bad role"),
                FieldError("tags.2", "bad tag"),
                FieldError(None, "whole request"),
            ],
        )

        errors = FormErrors.of(problem, ("sample_id", "role", "tags"), items="samples")

        assert errors.by_field == {
            "role": ["bad role", "second bad role"],
            "tags": ["tags.2: bad tag"],
        }
        assert errors.general == ["whole request"]
        assert FormErrors.of(None, ("role",)) == FormErrors()

    def test_a_samplesheet_reads_back_as_header_and_rows(self) -> None:
        sheet = Samplesheet.parse('sample,fastq_1\nS1,"raw/a,b.fq"\n')

        assert sheet.header == ["sample", "fastq_1"]
        assert sheet.rows == [["S1", "raw/a,b.fq"]]
        assert Samplesheet.parse("") == Samplesheet([], [])


class TestCreate:
    async def test_an_order_is_created_listed_and_filtered_by_status(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        form = await editor_browser.get("/orders/new")
        assert form.status_code == 200, form.text
        assert '<option value="hello">' in form.text  # compute's pipelines, as suggestions

        created = await editor_browser.post(
            "/orders",
            data={
                "csrf_token": csrf_of(form.text),
                "display_id": "ORD-42",
                "pipeline": "hello",
                "priority": "high",
                "tags": "batch7, urgent rush",  # as the subjects and samples forms take them
                "notes": "two lanes",
                "params": '{"greeting": "bonjour"}',
            },
        )
        assert created.status_code == 303, created.text
        page = await editor_browser.get(created.headers["location"])
        listed = await editor_browser.get("/orders")
        created_only = await editor_browser.get("/orders", params={"status": "created"})
        completed_only = await editor_browser.get("/orders", params={"status": "completed"})
        any_status = await editor_browser.get("/orders", params={"status": ""})
        bad_status = await editor_browser.get("/orders", params={"status": "lost"})
        past_the_end = await editor_browser.get("/orders", params={"offset": 100})

        assert page.status_code == 200, page.text
        assert '<span class="order-name">ORD-42</span>' in page.text
        for tag in ("batch7", "urgent", "rush"):
            assert f'<span class="label">{tag}</span>' in page.text
        assert "<code>bonjour</code>" in page.text
        assert 'hello <span class="version">1.0.0</span>' in page.text
        assert "Created by</dt><dd>you," in page.text
        assert f'href="{created.headers["location"]}">ORD-42</a>' in listed.text
        assert "ORD-42" in created_only.text and "ORD-42" not in completed_only.text
        assert "No orders with this status yet." in completed_only.text
        assert any_status.status_code == 200 and "ORD-42" in any_status.text
        assert bad_status.status_code == 400
        assert "None on this page." in past_the_end.text and "yet" not in past_the_end.text
        assert 'href="/orders?offset=0" rel="prev">Back to the last page' in past_the_end.text

    async def test_miner_refusals_are_shown_beside_their_fields(
        self, editor_browser: httpx.AsyncClient, hello: dict[str, Any]
    ) -> None:
        form = await editor_browser.get("/orders/new")
        token = csrf_of(form.text)

        refused = await editor_browser.post(
            "/orders",
            data={"csrf_token": token, "display_id": "no spaces!", "pipeline": "hello"},
        )
        unknown = await editor_browser.post(
            "/orders", data={"csrf_token": token, "display_id": "ORD-2", "pipeline": "nope"}
        )
        not_json = await editor_browser.post(
            "/orders",
            data={"csrf_token": token, "display_id": "ORD-3", "pipeline": "hello", "params": "{"},
        )
        # Deeper than Python's JSON parser goes: still the form's own refusal, not a 500.
        too_deep = await editor_browser.post(
            "/orders",
            data={"csrf_token": token, "display_id": "ORD-4", "pipeline": "hello",
                  "params": "[" * 5000},
        )  # fmt: skip
        listed = await editor_browser.get("/orders")

        assert refused.status_code == 422, refused.text
        assert re.search(
            r'id="order-display-id"[^>]*aria-invalid="true".*?'
            r'<div class="field-error" id="order-display-id-error"><p>[^<]*pattern',
            refused.text,
            re.S,
        ), refused.text
        assert 'value="no spaces!"' in refused.text  # what was typed, kept
        assert unknown.status_code in (404, 422), unknown.text
        assert 'class="problem"' in unknown.text and "nope" in unknown.text
        assert not_json.status_code == 422
        assert 'id="order-params-error"><p>Not JSON' in not_json.text
        assert too_deep.status_code == 422, too_deep.text
        assert 'id="order-params-error"><p>Not JSON' in too_deep.text
        assert "0 orders" in listed.text


class TestSamples:
    async def test_samples_are_found_added_with_a_role_and_removed(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        order: dict[str, Any],
    ) -> None:
        mother, father = (
            await sample(miner_client, team, "M1"),
            await sample(miner_client, team, "F1"),
        )
        page = await editor_browser.get(f"/orders/{order['id']}")
        found = await editor_browser.get(
            f"/orders/{order['id']}/sample-picker",
            params={"q": "M1"},
            headers={"HX-Request": "true"},
        )
        bad_search = await editor_browser.get(
            f"/orders/{order['id']}/sample-picker",
            params={"q": "!!"},
            headers={"HX-Request": "true"},
        )

        # S1 is in it, as the proband, linked to its sample page; the picker lists the project's.
        assert f'<a href="/samples/{order["s1_id"]}">S1</a>' in page.text
        assert '<span class="role">proband</span>' in page.text
        assert f'value="{father["id"]}" form="add-samples"' in page.text
        assert f'value="{mother["id"]}"' in found.text and father["id"] not in found.text
        assert 'id="sample-search-error"' in bad_search.text
        # The count found is announced in the page's polite region, which each answer fills.
        assert (
            '<p id="picker-results-status" class="visually-hidden" role="status" '
            'aria-live="polite"></p>'
        ) in page.text
        assert (
            '<p id="picker-results-status" hx-swap-oob="innerHTML">1 sample found</p>'
        ) in found.text
        assert '<p id="picker-results-status" hx-swap-oob="innerHTML"></p>' in bad_search.text

        added = await editor_browser.post(
            f"/orders/{order['id']}/samples",
            data={
                "csrf_token": csrf_of(page.text),
                "sample_id": [mother["id"], father["id"]],
                "role": "parent",
            },
        )
        bad_role = await editor_browser.post(
            f"/orders/{order['id']}/samples",
            data={"csrf_token": csrf_of(page.text), "sample_id": mother["id"], "role": "Bad Role"},
        )
        none_picked = await editor_browser.post(
            f"/orders/{order['id']}/samples", data={"csrf_token": csrf_of(page.text)}
        )
        after_add = await editor_browser.get(f"/orders/{order['id']}")

        assert added.status_code == 303, added.text
        assert after_add.text.count('<span class="role">parent</span>') == 2
        assert "3 samples</caption>" in after_add.text
        assert bad_role.status_code == 422, bad_role.text
        assert re.search(r'id="add-role-error"><p>[^<]*pattern', bad_role.text), bad_role.text
        assert none_picked.status_code == 422
        assert 'id="add-sample-error"><p>Pick at least one sample.' in none_picked.text

        removed = await editor_browser.post(
            f"/orders/{order['id']}/samples/{father['id']}/remove",
            data={"csrf_token": csrf_of(page.text)},
        )
        after_remove = await editor_browser.get(f"/orders/{order['id']}")

        assert removed.status_code == 303, removed.text
        assert ">F1</a>" not in after_remove.text and ">M1</a>" in after_remove.text
        assert "2 samples</caption>" in after_remove.text


class TestSamplesheet:
    async def test_preview_is_miners_csv_as_a_table_and_download_is_the_csv(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team,
        order: dict[str, Any],
    ) -> None:  # fmt: skip
        from_miner = await miner_client.get(
            f"/api/v1/orders/{order['id']}/samplesheet", headers=team.headers("viewer")
        )
        preview = await editor_browser.get(f"/orders/{order['id']}/samplesheet")
        download = await editor_browser.get(f"/orders/{order['id']}/samplesheet.csv")

        assert from_miner.status_code == 200, from_miner.text
        assert preview.status_code == 200, preview.text
        header = from_miner.text.splitlines()[0].split(",")
        assert "".join(f'<th scope="col">{column}</th>' for column in header) in preview.text
        assert "<td>S1</td>" in preview.text
        assert download.status_code == 200
        assert download.content == from_miner.content
        assert download.headers["content-type"].startswith("text/csv")
        assert download.headers["content-disposition"] == (
            'attachment; filename="ORD-1.samplesheet.csv"'
        )

    async def test_a_samplesheet_miner_cannot_build_shows_its_reasons(
        self, editor_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team,
        hello: dict[str, Any],
    ) -> None:  # fmt: skip
        bare = await made(miner_client, team.headers("editor"), "samples", display_id="BARE")
        broken = await made(
            miner_client,
            team.headers("editor"),
            "orders",
            display_id="ORD-9",
            pipeline="hello",
            samples=[{"sample_id": bare["id"]}],
        )

        preview = await editor_browser.get(f"/orders/{broken['id']}/samplesheet")
        download = await editor_browser.get(f"/orders/{broken['id']}/samplesheet.csv")

        assert preview.status_code == 422, preview.text
        assert 'id="samplesheet-problem"' in preview.text and "fastq_1" in preview.text
        assert "BARE" in preview.text
        assert download.status_code == 422
        assert "text/html" in download.headers["content-type"]

    async def test_the_launch_form_offers_an_order_behind_a_hundred_newer_ones(
        self, editor_browser: httpx.AsyncClient, team: Team, order: dict[str, Any],
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:  # fmt: skip
        """Written straight to miner's tables: a run per order would cost seconds each."""
        start = datetime.now(UTC) + timedelta(minutes=1)
        async with session_factory() as session, session.begin():
            await session.execute(
                update(Order)
                .where(Order.id == uuid.UUID(order["id"]))
                .values(status="analyzing", samplesheet_path="orders/ORD-1/samplesheet.csv")
            )
            await session.execute(
                insert(Order),
                [
                    {
                        "project_id": team.project_id,
                        "display_id": f"NEWER-{number}",
                        "pipeline_slug": "hello",
                        "pipeline_version": order["pipeline"]["version"],
                        "created_by": "test",
                        "created_at": start + timedelta(seconds=number),
                    }
                    for number in range(100)
                ],
            )

        form = await editor_browser.get("/launch/hello")

        assert form.status_code == 200, form.text
        offered = re.findall(r'<option value="[^"]+">([^ <]+) \(', form.text)
        assert offered == ["ORD-1"]


class TestMoves:
    async def test_only_the_moves_miner_allows_are_offered_and_history_is_kept(
        self, admin_browser: httpx.AsyncClient, order: dict[str, Any]
    ) -> None:
        page = await admin_browser.get(f"/orders/{order['id']}")
        assert offered_moves(page.text) == order["allowed_transitions"]  # an admin may make all
        assert offered_moves(page.text) == ["analyzing", "cancelled"]

        moved = await admin_browser.post(
            f"/orders/{order['id']}/transition",
            data={"csrf_token": csrf_of(page.text), "to": "analyzing", "note": "go"},
        )
        analyzing = await admin_browser.get(f"/orders/{order['id']}")

        assert moved.status_code == 303, moved.text
        assert offered_moves(analyzing.text) == ["review", "sign_off", "cancelled"]
        assert 'id="order-status">analyzing</span>' in analyzing.text
        history = analyzing.text.split('id="history"', 1)[1]
        assert re.search(r"<td>created</td>\s*<td>analyzing.*?</td>\s*<td>you</td>", history, re.S)
        assert "<td>go</td>" in history
        assert 'href="/runs/' in history  # the run the move started

        for to in ("sign_off", "completed"):
            response = await admin_browser.post(
                f"/orders/{order['id']}/transition",
                data={"csrf_token": csrf_of(page.text), "to": to},
            )
            assert response.status_code == 303, response.text
        done = await admin_browser.get(f"/orders/{order['id']}")

        assert offered_moves(done.text) == []
        assert "it moves no further" in done.text
        assert done.text.split('id="history"', 1)[1].count("<td>you</td>") == 3

    async def test_a_move_miner_refuses_shows_its_message(
        self, editor_browser: httpx.AsyncClient, order: dict[str, Any], team: Team
    ) -> None:
        page = await editor_browser.get(f"/orders/{order['id']}")
        token = csrf_of(page.text)
        # miner allows analyzing and cancelled from created; an editor may make the first.
        assert offered_moves(page.text) == ["analyzing"]

        illegal = await editor_browser.post(
            f"/orders/{order['id']}/transition", data={"csrf_token": token, "to": "completed"}
        )
        not_a_status = await editor_browser.post(
            f"/orders/{order['id']}/transition", data={"csrf_token": token, "to": "lost"}
        )
        not_allowed = await editor_browser.post(
            f"/orders/{order['id']}/transition", data={"csrf_token": token, "to": "cancelled"}
        )
        after = await editor_browser.get(f"/orders/{order['id']}")

        assert illegal.status_code == 409, illegal.text
        problem = illegal.text.split('id="move-problem"', 1)[1]
        assert "Order ORD-1 is &#39;created&#39;" in problem
        assert offered_moves(illegal.text) == ["analyzing"]
        assert not_a_status.status_code == 422
        assert 'id="move-problem"' in not_a_status.text
        assert not_allowed.status_code == 403, not_allowed.text
        assert 'id="move-problem"' in not_allowed.text
        assert 'id="order-status">created</span>' in after.text

        # A viewer is offered no move, and miner refuses the viewer's changes.
        editor_browser.cookies.clear()
        await logged_in(editor_browser, team.viewer, team.project_id)
        as_viewer = await editor_browser.get(f"/orders/{order['id']}")
        add = await editor_browser.post(
            f"/orders/{order['id']}/samples",
            data={"csrf_token": csrf_of(as_viewer.text), "sample_id": order["s1_id"]},
        )

        assert offered_moves(as_viewer.text) == []
        assert "may make none of its next moves (analyzing, cancelled)" in as_viewer.text
        assert add.status_code == 403
        assert 'id="samples-problem"' in add.text


class TestSecurity:
    async def test_forms_without_the_csrf_token_are_refused(
        self, editor_browser: httpx.AsyncClient, order: dict[str, Any]
    ) -> None:
        create = await editor_browser.post(
            "/orders", data={"display_id": "ORD-5", "pipeline": "hello"}
        )
        move = await editor_browser.post(
            f"/orders/{order['id']}/transition", data={"to": "analyzing", "csrf_token": "x"}
        )
        remove = await editor_browser.post(f"/orders/{order['id']}/samples/{order['s1_id']}/remove")
        page = await editor_browser.get(f"/orders/{order['id']}")

        assert [create.status_code, move.status_code, remove.status_code] == [403, 403, 403]
        assert 'id="order-status">created</span>' in page.text
        assert "1 sample</caption>" in page.text
        assert "ORD-5" not in (await editor_browser.get("/orders")).text

    async def test_another_projects_order_is_a_404_page(
        self,
        editor_browser: httpx.AsyncClient,
        miner_client: httpx.AsyncClient,
        team: Team,
        factory: Any,
        hello: dict[str, Any],
    ) -> None:
        other_project = await factory.project(team.org_id, members={team.admin: "admin"})
        elsewhere = await made(
            miner_client,
            dict(team.admin.in_project(other_project)),
            "orders",
            display_id="ORD-X",
            pipeline="hello",
        )

        pages = [
            await editor_browser.get(f"/orders/{elsewhere['id']}"),
            await editor_browser.get(f"/orders/{elsewhere['id']}/samplesheet"),
            await editor_browser.get(f"/orders/{elsewhere['id']}/samplesheet.csv"),
            await editor_browser.get(f"/orders/{uuid.uuid4()}"),
            await editor_browser.get("/orders/not-an-id"),
        ]

        assert [p.status_code for p in pages] == [404] * 5
        assert all("text/html" in p.headers["content-type"] for p in pages)
        assert all("ORD-X" not in p.text for p in pages)

    async def test_script_laden_fields_are_rendered_as_text(
        self, admin_browser: httpx.AsyncClient, miner_client: httpx.AsyncClient, team: Team,
        hello: dict[str, Any],
    ) -> None:  # fmt: skip
        laden = await made(
            miner_client,
            team.headers("editor"),
            "orders",
            display_id="ORD-XSS",
            pipeline="hello",
            notes=XSS,
            params={"greeting": XSS, XSS: 1},
        )
        page = await admin_browser.get(f"/orders/{laden['id']}")
        moved = await admin_browser.post(
            f"/orders/{laden['id']}/transition",
            data={"csrf_token": csrf_of(page.text), "to": "cancelled", "note": XSS},
        )
        after = await admin_browser.get(f"/orders/{laden['id']}")
        refused = await admin_browser.post(
            "/orders",
            data={"csrf_token": csrf_of(page.text), "display_id": XSS, "pipeline": "hello",
                  "notes": XSS, "tags": XSS},
        )  # fmt: skip

        assert moved.status_code == 303, moved.text
        # Who, by name: the editor made it (admin names the project's members), the admin moved it.
        created_by = re.escape(f"Created by</dt><dd>{team.editor.username},")
        assert re.search(created_by, after.text, re.IGNORECASE)  # the display name, or the login
        for html in (after.text, refused.text):
            assert XSS not in html and "<script>alert" not in html and 'onerror="' not in html
        # notes, the greeting's value, a parameter's name, the move's note; the form's values.
        assert after.text.count(str(escape(XSS))) == 4
        assert refused.status_code == 422 and refused.text.count(str(escape(XSS))) >= 3
