"""The OpenAPI documents list the error answers every route gives, with the body they carry.

Checked twice: on the committed documents of the four services (what clients generate code
from), and live, where each answer a probe service really gives must be a status its operation
lists and a body the documented Problem schema accepts.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from nfhub_shared.errors import PROBLEM_JSON
from nfhub_shared.openapi_problems import COMMON_UNAUTHORIZED, PROBLEM_SCHEMA
from support.openapi import committed_documents, operations
from support.probe import probe_router

DOCUMENTS = committed_documents()
# (document, METHOD, path, operation) over all four services.
OPERATIONS = [
    (name, method, path, operation)
    for name, document in DOCUMENTS.items()
    for method, path, operation in operations(document)
]


def test_all_four_services_are_documented() -> None:
    assert set(DOCUMENTS) == {"admin.json", "compute.json", "files.json", "miner.json"}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_error_answer_names_its_body(name: str) -> None:
    undescribed = [
        f"{method} {path} {status}"
        for service, method, path, operation in OPERATIONS
        if service == name
        for status, response in operation["responses"].items()
        if status[:1] in "45" and not response.get("content")
    ]
    assert not undescribed, undescribed
    assert DOCUMENTS[name]["components"]["schemas"]["Problem"] == PROBLEM_SCHEMA


def test_a_token_is_refused_only_where_one_is_asked_for() -> None:
    wrong = []
    for name, method, path, operation in OPERATIONS:
        responses = operation["responses"]
        if operation.get("security"):
            if not {"401", "403"} <= set(responses):
                wrong.append(f"{name} {method} {path}: secured, but 401/403 are not listed")
        elif responses.get("401", {}).get("description") == COMMON_UNAUTHORIZED:
            wrong.append(f"{name} {method} {path}: takes no token, yet lists the common 401")
    assert not wrong, wrong


def test_edge_limits_are_listed_where_they_apply() -> None:
    wrong = []
    for name, method, path, operation in OPERATIONS:
        responses = operation["responses"]
        # /api/v1, and compute's WES (rate limited as an API of its own).
        api = path.startswith(("/api/v1/", "/ga4gh/wes/v1/"))
        # Exempt: Nextflow's reports (the weblog never retries; Tower calls carry a token the
        # edge cannot read, see compute's main.is_nextflow_path).
        nextflow = path == "/api/v1/runs/{run_id}/events" or path.startswith("/api/v1/tower/trace/")
        if api and not nextflow and "429" not in responses:
            wrong.append(f"{name} {method} {path}: rate limited, 429 not listed")
        if not api and "429" in responses:
            wrong.append(f"{name} {method} {path}: not rate limited, yet lists 429")
        if "requestBody" in operation and "413" not in responses:
            wrong.append(f"{name} {method} {path}: takes a body, 413 not listed")
        if (
            path.startswith("/api/v1/")
            and method in {"POST", "PUT", "PATCH", "DELETE"}
            and "409" not in responses
        ):
            wrong.append(f"{name} {method} {path}: a write (unique constraints), 409 not listed")
        if path != "/healthz" and "503" not in responses:
            wrong.append(f"{name} {method} {path}: 503 not listed")
    assert not wrong, wrong


def test_operations_that_name_something_list_404() -> None:
    missing = [
        f"{name} {method} {path}"
        for name, method, path, operation in OPERATIONS
        if "{" in path
        or any(p.get("name") == "X-Project-ID" for p in operation.get("parameters", []))
        if "404" not in operation["responses"]
    ]
    assert not missing, missing


class TestLiveAnswersAreDocumented:
    async def test_each_shared_error_is_listed_with_a_body_the_schema_accepts(
        self, service_app: Any, factory: Any
    ) -> None:
        actor = await factory.user()
        samples, item = "/api/v1/probe/samples", "/api/v1/probe/items/{item_id}"
        valid, invalid = {"name": "S1", "count": 1}, {"name": 5, "count": 1}
        async with service_app(
            [probe_router()], RATE_LIMIT_WRITE=3, MAX_REQUEST_BODY_BYTES=2048
        ) as (app, client):
            answers = [
                (samples, await client.post(samples, json=valid)),
                (samples, await client.post(samples, json=invalid, headers=actor.headers)),
                (item, await client.get("/api/v1/probe/items/7", headers=actor.headers)),
                (samples, await client.post(samples, content=b"x" * 4096, headers=actor.headers)),
            ]
            for _ in range(4):  # past RATE_LIMIT_WRITE
                last = await client.post(samples, json=valid, headers=actor.headers)
            answers.append((samples, last))
            document = app.openapi()
        validator = jsonschema.Draft202012Validator(PROBLEM_SCHEMA)
        for template, response in answers:
            listed = document["paths"][template][response.request.method.lower()]["responses"]
            assert str(response.status_code) in listed, (template, response.status_code)
            assert response.headers["content-type"] == PROBLEM_JSON
            validator.validate(response.json())
        # Without a token, invalid body, invalid path id, too large, over the rate limit.
        assert [response.status_code for _, response in answers] == [401, 422, 422, 413, 429]
