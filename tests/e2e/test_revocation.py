"""Revocations reach every service before the revoking call's answer does.

compute, files and miner cache who a token is and a user's role in a project; admin announces
each change of access at commit (PostgreSQL NOTIFY) and they drop what it concerns. Here the
services are separate processes of the live stack: a member whose role was just used (and so is
cached) everywhere is removed, and the very next request to each service is refused; the same
for a personal access token that is revoked.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from support.live import LiveStack

pytestmark = pytest.mark.timeout(180)

# One read and one write per service, all in the project (X-Project-ID).
CALLS = (
    ("compute", "GET", "/api/v1/runs", None),
    ("files", "GET", "/api/v1/files", None),
    ("files", "POST", "/api/v1/files/folders", {"path": "revocation-probe/"}),
    ("miner", "GET", "/api/v1/samples", None),
    ("miner", "POST", "/api/v1/subjects", {"display_id": "P-REV"}),
)


@dataclass
class Member:
    id: str
    username: str
    password: str


@pytest.fixture
def admin(https_stack: LiveStack) -> Iterator[httpx.Client]:
    with https_stack.client("admin") as client:
        client.headers["Authorization"] = f"Bearer {https_stack.token}"
        yield client


@pytest.fixture
def member(https_stack: LiveStack, admin: httpx.Client) -> Member:
    """A new user of the stack's org, editor in its project."""
    username = f"rev-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    created = admin.post(
        "/api/v1/users",
        json={"username": username, "password": password, "org_id": https_stack.org_id},
    )
    assert created.status_code == 201, created.text
    added = admin.post(
        f"/api/v1/projects/{https_stack.project_id}/members",
        json={"username": username, "role": "editor"},
    )
    assert added.status_code == 201, added.text
    return Member(created.json()["id"], username, password)


def statuses(stack: LiveStack, token: str) -> list[tuple[str, str, str, int]]:
    """Each call's status, made as the holder of ``token`` in the stack's project."""
    headers = {"Authorization": f"Bearer {token}", "X-Project-ID": stack.project_id}
    found = []
    for service, method, path, body in CALLS:
        with stack.client(service) as client:
            response = client.request(method, path, json=body, headers=headers)
        found.append((service, method, path, response.status_code))
    return found


def log_in(admin: httpx.Client, member: Member) -> str:
    login = admin.post(
        "/api/v1/auth/login", json={"username": member.username, "password": member.password}
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


def test_a_removed_member_is_refused_at_once_everywhere(
    https_stack: LiveStack, admin: httpx.Client, member: Member
) -> None:
    token = log_in(admin, member)
    before = statuses(https_stack, token)
    assert {status for *_, status in before} <= {200, 201, 409}, before

    removed = admin.delete(f"/api/v1/projects/{https_stack.project_id}/members/{member.id}")
    assert removed.status_code == 204, removed.text
    after = statuses(https_stack, token)

    assert [call for call in after if call[3] != 404] == []


def test_a_lowered_role_takes_effect_at_once_everywhere(
    https_stack: LiveStack, admin: httpx.Client, member: Member
) -> None:
    token = log_in(admin, member)
    assert {status for *_, status in statuses(https_stack, token)} <= {200, 201, 409}

    lowered = admin.patch(
        f"/api/v1/projects/{https_stack.project_id}/members/{member.id}", json={"role": "viewer"}
    )
    assert lowered.status_code == 200, lowered.text
    after = statuses(https_stack, token)

    writes = [call for call in after if call[1] == "POST"]
    reads = [call for call in after if call[1] == "GET"]
    assert [call for call in writes if call[3] != 403] == []
    assert [call for call in reads if call[3] != 200] == []


def test_a_revoked_token_is_refused_at_once_everywhere(
    https_stack: LiveStack, admin: httpx.Client, member: Member
) -> None:
    bearer = {"Authorization": f"Bearer {log_in(admin, member)}"}
    created = admin.post("/api/v1/tokens", json={"name": "revoked-soon"}, headers=bearer)
    assert created.status_code == 201, created.text
    pat = created.json()["token"]
    assert {status for *_, status in statuses(https_stack, pat)} <= {200, 201, 409}

    revoked = admin.delete(f"/api/v1/tokens/{created.json()['id']}", headers=bearer)
    assert revoked.status_code == 204, revoked.text
    after = statuses(https_stack, pat)

    assert [call for call in after if call[3] != 401] == []


def test_a_logout_ends_its_access_token_at_once_everywhere(
    https_stack: LiveStack, admin: httpx.Client, member: Member
) -> None:
    login = admin.post(
        "/api/v1/auth/login", json={"username": member.username, "password": member.password}
    )
    assert login.status_code == 200, login.text
    pair = login.json()
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    assert {status for *_, status in statuses(https_stack, pair["access_token"])} <= {
        200,
        201,
        409,
    }
    assert admin.get("/api/v1/users/me", headers=bearer).status_code == 200

    ended = admin.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert ended.status_code == 204, ended.text
    after = statuses(https_stack, pair["access_token"])

    assert [call for call in after if call[3] != 401] == []
    assert admin.get("/api/v1/users/me", headers=bearer).status_code == 401
