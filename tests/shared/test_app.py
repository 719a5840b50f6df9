"""The app factory: problem+json errors, request ids, API version, body limit, health, metrics."""

from __future__ import annotations

import re
import uuid

import httpx

from support.probe import probe_router

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{32}", body["error_id"])
    return body


class TestProblemDetails:
    async def test_validation_errors_list_each_field(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.post(
                "/api/v1/probe/samples",
                json={"name": "x" * 11, "count": "many", "extra": 1},
                headers=actor.headers,
            )
        body = assert_problem(response, 422)
        fields = {error["field"] for error in body["errors"]}
        assert {"name", "count"} <= fields
        assert "body.name" in str(body["detail"])

    async def test_app_error_keeps_its_status_and_detail(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.get("/api/v1/probe/conflict", headers=actor.headers)
        body = assert_problem(response, 409)
        assert body["detail"] == "order ORD-7 is completed; it cannot move to analyzing"
        assert body["instance"] == "/api/v1/probe/conflict"

    async def test_unexpected_error_is_a_500_problem_without_internals(
        self, service_app, factory
    ) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.get("/api/v1/probe/crash", headers=actor.headers)
        body = assert_problem(response, 500)
        assert "boom" not in response.text
        assert "error_id" in str(body["detail"])

    async def test_unknown_route_is_a_404_problem(self, service_app) -> None:
        async with service_app([probe_router()]) as (_, client):
            response = await client.get("/api/v1/nothing-here")
        assert_problem(response, 404)

    async def test_wrong_method_is_a_405_problem(self, service_app) -> None:
        async with service_app([probe_router()]) as (_, client):
            response = await client.delete("/healthz")
        assert_problem(response, 405)

    async def test_405_allow_lists_every_method_of_the_path(self, service_app, factory) -> None:
        actor = await factory.user()
        item = f"/api/v1/probe/items/{uuid.uuid4()}"
        async with service_app([probe_router()]) as (_, client):
            for method in ("OPTIONS", "PUT", "PATCH"):
                response = await client.request(method, item, headers=actor.headers)
                assert_problem(response, 405)
                # Each method of a path is a route of its own; Starlette named only the first.
                assert response.headers["allow"] == "DELETE, GET", method
            samples = await client.request("OPTIONS", "/api/v1/probe/samples")
        assert_problem(samples, 405)
        assert samples.headers["allow"] == "POST"

    async def test_malformed_path_uuid_is_a_422_problem(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.get("/api/v1/probe/items/not-a-uuid", headers=actor.headers)
        body = assert_problem(response, 422)
        assert body["errors"][0]["location"] == "path"

    async def test_invalid_json_is_a_problem_not_a_500(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.post(
                "/api/v1/probe/samples",
                content=b'{"name": "a", "count": ',
                headers={**actor.headers, "content-type": "application/json"},
            )
        assert_problem(response, 422)

    async def test_invalid_json_names_line_and_column_not_a_field(
        self, service_app, factory
    ) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            response = await client.post(
                "/api/v1/probe/samples",
                content=b'{\n  "name": "a",\n  "count": 1,\n}',
                headers={**actor.headers, "content-type": "application/json"},
            )
        body = assert_problem(response, 422)
        assert body["errors"] == [
            {
                "location": "body",
                "field": None,
                "message": "invalid JSON at line 4 column 1: Expecting property name "
                "enclosed in double quotes",
                "type": "json_invalid",
            }
        ]
        assert "invalid JSON at line 4 column 1" in str(body["detail"])


class TestRequestId:
    async def test_generated_when_absent(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/healthz")
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    async def test_echoed_when_sent(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/healthz", headers={"X-Request-ID": "lab-run-42"})
        assert response.headers["x-request-id"] == "lab-run-42"

    async def test_unsafe_value_is_replaced(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 200})
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])

    async def test_error_responses_carry_it_too(self, service_app) -> None:
        async with service_app([probe_router()]) as (_, client):
            response = await client.get("/api/v1/probe/conflict", headers={"X-Request-ID": "r-1"})
        assert response.status_code == 401
        assert response.headers["x-request-id"] == "r-1"


class TestAcceptVersion:
    async def test_absent_is_version_one(self, service_app) -> None:
        async with service_app([]) as (_, client):
            assert (await client.get("/healthz")).status_code == 200

    async def test_one_is_accepted(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/healthz", headers={"Accept-Version": "1"})
        assert response.status_code == 200

    async def test_other_versions_are_a_400_problem(self, service_app) -> None:
        async with service_app([]) as (_, client):
            for version in ("2", "v1", "", "1.0"):
                response = await client.get("/healthz", headers={"Accept-Version": version})
                body = assert_problem(response, 400)
                assert "Accept-Version" in str(body["detail"])


class TestBodyLimit:
    async def test_declared_oversize_body_is_a_413_problem(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()], MAX_REQUEST_BODY_BYTES=4096) as (_, client):
            response = await client.post(
                "/api/v1/probe/samples",
                content=b'{"name": "' + b"x" * 10_000 + b'", "count": 1}',
                headers={**actor.headers, "content-type": "application/json"},
            )
        assert_problem(response, 413)

    async def test_streamed_oversize_body_without_length_is_a_413_problem(
        self, service_app, factory
    ) -> None:
        actor = await factory.user()

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b"x" * 1024

        async with service_app([probe_router()], MAX_REQUEST_BODY_BYTES=4096) as (_, client):
            response = await client.post(
                "/api/v1/probe/samples",
                content=chunks(),
                headers={**actor.headers, "content-type": "application/json"},
            )
        assert_problem(response, 413)


class TestHealth:
    async def test_healthz_is_public(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/healthz")
        assert response.json() == {"status": "ok"}

    async def test_readyz_checks_the_database(self, service_app) -> None:
        async with service_app([]) as (_, client):
            response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["database"] == "ok"

    async def test_readyz_is_503_when_the_database_is_down(self, service_app) -> None:
        async with service_app(
            [], bind_to_test_transaction=False, database_url="postgresql://u@127.0.0.1:1/none"
        ) as (_, client):
            response = await client.get("/readyz")
        assert_problem(response, 503)


class TestMetrics:
    async def test_requests_are_counted_by_route_template(self, service_app, factory) -> None:
        actor = await factory.user()
        async with service_app([probe_router()]) as (_, client):
            item = uuid.uuid4()
            await client.get(f"/api/v1/probe/items/{item}", headers=actor.headers)
            response = await client.get("/metrics")
        assert response.status_code == 200
        text = response.text
        assert 'route="/api/v1/probe/items/{item_id}"' in text
        assert str(item) not in text
        assert "http_request_duration_seconds_bucket" in text
