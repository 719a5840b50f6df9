"""The project's members page: what admin lets each role do, shown and refused in place."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.models import OrgMembership, User
from nfhub_web.members.service import MEMBERS_PER_PAGE
from support.inprocess import Team
from support.passwords import CHEAP
from support.web import admin_only, csrf_of, logged_in


@pytest.fixture
def web_routes(admin_transport: httpx.ASGITransport) -> dict[str, httpx.AsyncBaseTransport]:
    """Its pages call admin alone."""
    return admin_only(admin_transport)


class TestMembers:
    async def test_an_admin_adds_changes_and_removes_a_member(
        self, admin_browser: httpx.AsyncClient, factory: Any, team: Team
    ) -> None:
        newcomer = await factory.user()
        await factory.join_org(team.org_id, newcomer)
        page = await admin_browser.get("/members")
        csrf = csrf_of(page.text)
        assert page.status_code == 200
        assert "Add a member" in page.text

        added = await admin_browser.post(
            "/members", data={"username": newcomer.username, "role": "viewer", "csrf_token": csrf}
        )
        assert added.status_code == 303
        listed = await admin_browser.get("/members")
        assert f"({newcomer.username})" in listed.text
        assert f'action="/members/{newcomer.id}/role"' in listed.text

        changed = await admin_browser.post(
            f"/members/{newcomer.id}/role", data={"role": "editor", "csrf_token": csrf}
        )
        assert changed.status_code == 303
        row = (await admin_browser.get("/members")).text.split(f"({newcomer.username})")[1]
        assert '<option value="editor" selected>' in row.split("</tr>")[0]

        removed = await admin_browser.post(
            f"/members/{newcomer.id}/remove", data={"csrf_token": csrf}
        )
        assert removed.status_code == 303
        assert newcomer.username not in (await admin_browser.get("/members")).text

    async def test_admins_refusals_are_shown_in_place(
        self, admin_browser: httpx.AsyncClient, factory: Any
    ) -> None:
        outsider = await factory.user()
        page = await admin_browser.get("/members")

        unknown = await admin_browser.post(
            "/members",
            data={"username": "nobody-here", "role": "viewer", "csrf_token": csrf_of(page.text)},
        )
        not_in_org = await admin_browser.post(
            "/members",
            data={
                "username": outsider.username,
                "role": "viewer",
                "csrf_token": csrf_of(page.text),
            },
        )
        no_csrf = await admin_browser.post("/members", data={"username": "x", "role": "viewer"})

        assert unknown.status_code in (404, 422), unknown.text
        assert 'role="alert"' in unknown.text
        assert 'value="nobody-here"' in unknown.text
        assert not_in_org.status_code == 409
        assert "add them to the organisation first" in not_in_org.text
        assert no_csrf.status_code == 403

    async def test_an_editor_sees_the_list_and_cannot_change_it(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        page = await editor_browser.get("/members")

        assert page.status_code == 200
        assert f"({team.viewer.username})" in page.text
        assert "Add a member" not in page.text
        refused = await editor_browser.post(
            f"/members/{team.viewer.id}/remove", data={"csrf_token": csrf_of(page.text)}
        )
        assert refused.status_code == 403
        assert 'role="alert"' in refused.text
        assert f"({team.viewer.username})" in (await editor_browser.get("/members")).text


class TestOrgMembers:
    async def test_an_org_owner_manages_the_orgs_members(
        self, browser: httpx.AsyncClient, factory: Any
    ) -> None:
        owner, newcomer = await factory.user(), await factory.user()
        org = await factory.org(owner)
        project = await factory.project(org)
        await logged_in(browser, owner, project)
        page = await browser.get("/org/members")
        csrf = csrf_of(page.text)
        assert page.status_code == 200, page.text
        assert 'aria-current="page">Organisation</a>' in page.text
        assert '<select id="member-role" name="role">' in page.text
        assert '<option value="owner">' in page.text

        added = await browser.post(
            "/org/members",
            data={"username": newcomer.username, "role": "member", "csrf_token": csrf},
        )
        assert added.status_code == 303
        assert added.headers["location"] == "/org/members"
        made_admin = await browser.post(
            f"/org/members/{newcomer.id}/role", data={"role": "admin", "csrf_token": csrf}
        )
        assert made_admin.status_code == 303
        row = (await browser.get("/org/members")).text.split(f"({newcomer.username})")[1]
        assert '<option value="admin" selected>' in row.split("</tr>")[0]
        # Now in the org, the newcomer can join the project.
        joined = await browser.post(
            "/members", data={"username": newcomer.username, "role": "viewer", "csrf_token": csrf}
        )
        assert joined.status_code == 303

    async def test_a_plain_org_member_only_reads(
        self, editor_browser: httpx.AsyncClient, team: Team
    ) -> None:
        page = await editor_browser.get("/org/members")

        assert page.status_code == 200
        assert "Your role: <strong>member</strong>" in page.text
        assert "Add a member" not in page.text


class TestPaging:
    async def test_a_long_member_list_is_paged(
        self,
        editor_browser: httpx.AsyncClient,
        team: Team,
        session_factory: async_sessionmaker[AsyncSession],
    ) -> None:
        """More members than a page: the first page says how many and links to the next,
        which shows the rest (admin lists them by username: the added ones sort last)."""
        password_hash = CHEAP.hash("unused")
        async with session_factory() as db, db.begin():
            users = [
                User(username=f"zz-paged-{i:03d}", password_hash=password_hash)
                for i in range(MEMBERS_PER_PAGE)
            ]
            db.add_all(users)
            await db.flush()
            db.add_all(
                OrgMembership(org_id=team.org_id, user_id=u.id, role="member") for u in users
            )
        last = users[-1].username

        first = await editor_browser.get("/org/members")
        count = first.text.split("<caption>")[1].split(" member")[0]
        second = await editor_browser.get(f"/org/members?offset={MEMBERS_PER_PAGE}")
        beyond = await editor_browser.get("/org/members?offset=-1")

        assert int(count) > MEMBERS_PER_PAGE
        assert f"1\u2013{MEMBERS_PER_PAGE} of {count}" in first.text
        assert f'href="/org/members?offset={MEMBERS_PER_PAGE}" rel="next"' in first.text
        assert f"({last})" not in first.text
        assert second.status_code == 200
        assert f"({last})" in second.text
        assert 'href="/org/members?offset=0" rel="prev"' in second.text
        assert beyond.status_code == 400
