"""Nothing of one organisation is visible or changeable from another: every id-taking route.

The route list comes from admin's OpenAPI, so a new route is covered the day it is added;
it needs an entry in BODIES (None when it takes no body) or this test fails.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

ID_PARAMS = frozenset({"org_id", "project_id", "user_id", "token_id"})

# operationId → a body that would be valid if the caller were allowed (None: no body).
BODIES: dict[str, dict[str, Any] | None] = {
    "get_org": None,
    "update_org": {"name": "Taken over"},
    "delete_org": None,
    "list_org_members": None,
    "add_org_member": {"username": "mallory", "role": "member"},
    "update_org_member": {"role": "owner"},
    "remove_org_member": None,
    "get_project": None,
    "update_project": {"name": "Taken over"},
    "delete_project": None,
    "list_project_members": None,
    "add_project_member": {"username": "mallory"},
    "update_project_member": {"role": "admin"},
    "remove_project_member": None,
    "get_project_credentials": None,
    "revoke_token": None,
}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


def id_taking_operations(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(METHOD, path, operationId) of every operation with an id path parameter."""
    return [
        (method, path, operation["operationId"])
        for method, path, operation in operations(document)
        if ID_PARAMS & set(re.findall(r"{(\w+)}", path))
    ]


@dataclass
class OrgA:
    alice: Any
    bob: Any
    org_id: uuid.UUID
    project_id: uuid.UUID
    token_id: uuid.UUID


async def snapshot(client: httpx.AsyncClient, a: OrgA) -> dict[str, Any]:
    """What alice sees of her org, project, members and token."""
    urls = [
        f"/api/v1/orgs/{a.org_id}",
        f"/api/v1/orgs/{a.org_id}/members",
        f"/api/v1/projects/{a.project_id}",
        f"/api/v1/projects/{a.project_id}/members",
        "/api/v1/tokens",
    ]
    seen = {}
    for url in urls:
        response = await client.get(url, headers=a.alice.headers)
        assert response.status_code == 200, response.text
        seen[url] = response.json()
    return seen


class TestCrossOrgAccess:
    async def test_every_id_route_answers_404_to_another_org(
        self, admin_app: Any, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        bob = await factory.user("bob")
        mallory = await factory.user("mallory")
        org_id = await factory.org(alice, slug="acme-secret", members={bob: "member"})
        project_id = await factory.project(org_id, slug="project-secret", members={bob: "editor"})
        token_id, _ = await factory.personal_access_token(alice)
        await factory.org(mallory)
        a = OrgA(alice, bob, org_id, project_id, token_id)
        values = {
            "org_id": org_id,
            "project_id": project_id,
            "user_id": bob.id,
            "token_id": token_id,
        }

        routes = id_taking_operations(admin_app.openapi())
        found = {operation_id for _, _, operation_id in routes}
        assert found == set(BODIES), (
            f"routes without an entry in BODIES: {sorted(found - set(BODIES))}; "
            f"entries for routes that no longer exist: {sorted(set(BODIES) - found)}"
        )
        before = await snapshot(admin_client, a)

        problems = []
        for method, path, operation_id in routes:
            url = re.sub(r"{(\w+)}", lambda match: str(values[match.group(1)]), path)
            response = await admin_client.request(
                method, url, headers=mallory.headers, json=BODIES[operation_id]
            )
            if response.status_code != 404:
                problems.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            elif response.headers["content-type"] != "application/problem+json":
                problems.append(f"{method} {path}: 404 is not problem+json")
            elif "secret" in response.text:
                problems.append(f"{method} {path}: the 404 names org A's org or project")
        assert not problems, "routes that let mallory reach org A:\n" + "\n".join(problems)
        assert await snapshot(admin_client, a) == before

    async def test_project_list_filtered_by_another_org_is_empty(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        mallory = await factory.user("mallory")
        org_id = await factory.org(alice)
        await factory.project(org_id)
        await factory.project(await factory.org(mallory))

        response = await admin_client.get(
            "/api/v1/projects", params={"org_id": str(org_id)}, headers=mallory.headers
        )

        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "count": 0, "limit": 50, "offset": 0}

    async def test_audit_events_of_another_org_are_404(
        self, admin_client: httpx.AsyncClient, factory: Any
    ) -> None:
        alice = await factory.user("alice")
        mallory = await factory.user("mallory")
        org_id = await factory.org(alice)
        await factory.org(mallory)

        response = await admin_client.get(
            "/api/v1/audit-events", params={"org_id": str(org_id)}, headers=mallory.headers
        )

        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
