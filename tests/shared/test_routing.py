"""AuthFirstRoute: authentication runs ahead of FastAPI's dependencies, with the same answers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from nfhub_shared.auth.dependencies import CurrentPrincipal, ProjectEditor, project_role, scoped
from nfhub_shared.auth.principal import Principal, ProjectAccess, ProjectRole
from nfhub_shared.routing import AuthFirstRoute, PrefixRouteGroup, match_first

from .test_app import assert_problem


class Note(BaseModel):
    text: str


class Calls:
    """What ran, in order: the other dependency must not run for a caller without a token."""

    def __init__(self) -> None:
        self.names: list[str] = []


calls = Calls()


async def other_dependency() -> str:
    calls.names.append("other")
    return "other"


def project_summary(request: Request, access: ProjectAccess) -> dict[str, str]:
    return {"project": str(access.project_id), "role": access.role.value, "path": request.url.path}


def routing_probe() -> APIRouter:
    router = APIRouter(prefix="/routing")

    @router.post("/notes")
    async def create_note(
        note: Note,
        other: Annotated[str, Depends(other_dependency)],
        access: ProjectEditor,
    ) -> dict[str, Any]:
        return {"text": note.text, "project": str(access.project_id), "other": other}

    @router.get("/request-too")
    def sync_with_request(request: Request, principal: CurrentPrincipal) -> dict[str, str]:
        return {"path": request.url.path, "subject": principal.subject}

    @router.get("/scoped")
    async def needs_scope(
        principal: Annotated[Principal, scoped("definitely:not-granted")],
    ) -> dict[str, str]:
        return {"subject": principal.subject}

    @router.get("/built")
    async def built(
        summary: Annotated[dict[str, str], project_role(ProjectRole.viewer, build=project_summary)],
    ) -> dict[str, str]:
        return summary

    @router.get("/items/{item_id}")
    async def item(item_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": str(item_id)}

    @router.patch("/items/{item_id}")
    async def patch_item(item_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        return {"id": str(item_id)}

    @router.post("/items/import")
    async def import_items(principal: CurrentPrincipal) -> dict[str, str]:
        return {"imported": "yes"}

    return router


class TestAuthFirst:
    async def test_routes_get_the_class(self, service_app) -> None:
        async with service_app([routing_probe()]) as (app, _):
            classes = {
                route.path: type(route)
                for route in app.routes
                if getattr(route, "path", "").startswith("/api/v1/routing")
            }
        assert set(classes.values()) == {AuthFirstRoute}
        assert len(classes) == 6

    async def test_no_token_is_401_before_the_body_or_other_dependencies(self, service_app) -> None:
        calls.names.clear()
        async with service_app([routing_probe()]) as (_, client):
            response = await client.post(
                "/api/v1/routing/notes", content=b"{not json", headers={"X-Project-ID": "x"}
            )
        assert_problem(response, 401)
        assert calls.names == []

    async def test_an_authenticated_call_gets_everything(self, service_app, factory) -> None:
        calls.names.clear()
        editor = await factory.user()
        project_id = await factory.project(await factory.org(editor))
        async with service_app([routing_probe()]) as (_, client):
            response = await client.post(
                "/api/v1/routing/notes",
                json={"text": "hello"},
                headers=editor.in_project(project_id),
            )
            invalid = await client.post(
                "/api/v1/routing/notes", json={"txt": 1}, headers=editor.in_project(project_id)
            )
        assert response.status_code == 200, response.text
        assert response.json() == {"text": "hello", "project": str(project_id), "other": "other"}
        assert calls.names == ["other", "other"]
        body = assert_problem(invalid, 422)
        assert {error["field"] for error in body["errors"]} == {"text"}

    async def test_a_sync_endpoint_with_its_own_request_parameter(
        self, service_app, factory
    ) -> None:
        actor = await factory.user()
        async with service_app([routing_probe()]) as (_, client):
            response = await client.get("/api/v1/routing/request-too", headers=actor.headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"path": "/api/v1/routing/request-too", "subject": str(actor.id)}

    async def test_missing_scopes_are_403_with_the_challenge(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([routing_probe()]) as (_, client):
            response = await client.get("/api/v1/routing/scoped", headers=actor.headers)
        assert_problem(response, 403)
        assert "definitely:not-granted" in response.headers["www-authenticate"]

    async def test_build_makes_the_endpoint_value_after_the_role_check(
        self, service_app, factory
    ) -> None:
        owner, outsider = await factory.user(), await factory.user()
        project_id = await factory.project(await factory.org(owner))
        async with service_app([routing_probe()]) as (_, client):
            response = await client.get(
                "/api/v1/routing/built", headers=owner.in_project(project_id)
            )
            refused = await client.get(
                "/api/v1/routing/built", headers=outsider.in_project(project_id)
            )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "project": str(project_id),
            "role": "admin",
            "path": "/api/v1/routing/built",
        }
        assert_problem(refused, 404)

    async def test_dependency_overrides_are_honoured(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([routing_probe()]) as (app, client):
            app.dependency_overrides[other_dependency] = lambda: "overridden"
            project_id = await factory.project(await factory.org(actor))
            response = await client.post(
                "/api/v1/routing/notes", json={"text": "x"}, headers=actor.in_project(project_id)
            )
        assert response.status_code == 200, response.text
        assert response.json()["other"] == "overridden"

    async def test_paths_are_matched_as_before(self, service_app, factory) -> None:
        actor = await factory.user()
        item = uuid.uuid4()
        async with service_app([routing_probe()]) as (_, client):
            found = await client.get(f"/api/v1/routing/items/{item}", headers=actor.headers)
            bad_id = await client.get("/api/v1/routing/items/not-a-uuid", headers=actor.headers)
            near_miss = await client.get("/api/v1/routing/scopedx", headers=actor.headers)
            wrong_method = await client.delete("/api/v1/routing/scoped", headers=actor.headers)
        assert found.json() == {"id": str(item)}
        assert_problem(bad_id, 422)
        assert_problem(near_miss, 404)
        assert_problem(wrong_method, 405)

    async def test_a_literal_sibling_path_is_not_a_parameter(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([routing_probe()]) as (_, client):
            imported = await client.post("/api/v1/routing/items/import", headers=actor.headers)
            patched = await client.patch(
                f"/api/v1/routing/items/{uuid.uuid4()}", headers=actor.headers
            )
            answers = [
                await client.request(method, "/api/v1/routing/items/import", headers=actor.headers)
                for method in ("GET", "PATCH", "OPTIONS")
            ]
        assert imported.json() == {"imported": "yes"}
        assert patched.status_code == 200, patched.text
        for answer in answers:
            # Not GET/PATCH /items/{item_id} with a bad id (422): a method /items/import lacks.
            assert_problem(answer, 405)
            assert answer.headers["allow"] == "POST"


class TestMatchFirst:
    async def test_grouped_routes_answer_as_from_the_list(self, service_app, factory) -> None:
        actor = await factory.user()
        item = uuid.uuid4()
        async with service_app([routing_probe()]) as (app, client):
            before = app.openapi()
            app.openapi_schema = None
            match_first(app, "/api/v1/routing/items/")
            group = app.router.routes[0]
            found = await client.get(f"/api/v1/routing/items/{item}", headers=actor.headers)
            patched = await client.patch(f"/api/v1/routing/items/{item}", headers=actor.headers)
            imported = await client.post("/api/v1/routing/items/import", headers=actor.headers)
            bad_id = await client.get("/api/v1/routing/items/not-a-uuid", headers=actor.headers)
            wrong_method = await client.get("/api/v1/routing/items/import", headers=actor.headers)
            elsewhere = await client.get("/api/v1/routing/request-too", headers=actor.headers)
            after = app.openapi()
            url = app.url_path_for("item", item_id=str(item))

        assert isinstance(group, PrefixRouteGroup)
        assert {route.path for route in group.routes} == {  # type: ignore[attr-defined]
            "/api/v1/routing/items/{item_id}", "/api/v1/routing/items/import"
        }  # fmt: skip
        assert found.json() == patched.json() == {"id": str(item)}
        assert imported.json() == {"imported": "yes"}
        assert_problem(bad_id, 422)
        # No grouped route takes GET there: the app's list answers, as without the group.
        assert_problem(wrong_method, 405)
        assert wrong_method.headers["allow"] == "POST"
        assert elsewhere.json()["path"] == "/api/v1/routing/request-too"
        assert after == before
        assert url == f"/api/v1/routing/items/{item}"
