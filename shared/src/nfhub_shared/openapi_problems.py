"""The error answers every service gives, written into its OpenAPI document.

FastAPI documents only what a route declares; the edge middleware (body limit, rate limit),
authentication and the error handlers answer with problem+json on every route too. A client
generated from the document, or a tester such as schemathesis, should find each of those
statuses listed with the body it carries, and no 401 on a route that takes no token.
"""

from __future__ import annotations

from typing import Any

from nfhub_shared.errors import PROBLEM_JSON
from nfhub_shared.middleware import EdgeRules

PROBLEM_SCHEMA_NAME = "Problem"
PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM_SCHEMA_NAME}"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": PROBLEM_SCHEMA_NAME,
    "description": "An RFC 9457 problem: what went wrong, in words a client can show.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "The kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "This occurrence, and what to do."},
        "instance": {"type": ["string", "null"], "description": "The request path."},
        "error_id": {"type": "string", "description": "Quote it when reporting a problem."},
        "errors": {
            "type": "array",
            "description": "Each invalid field (validation problems).",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "additionalProperties": True,
}
# The common 401 FastAPI adds to every operation; a route without a token drops it.
COMMON_UNAUTHORIZED = "Missing, invalid or expired token (problem+json)"
FORBIDDEN = "The token lacks the scope, or its user the role, this needs (problem+json)"
PROJECT_NOT_FOUND = (
    "The project, or what the call names in it, does not exist or you cannot see it (problem+json)"
)
CONFLICT = (
    "Conflicts with what is stored: a duplicate, a change its current state does not allow, "
    "or another request changing it at the same time (problem+json)"
)
NOT_FOUND = "Nothing by that name or id, or nothing you can see (problem+json)"
UNREADABLE_BODY = "The body is not UTF-8 JSON, or nests too deep (problem+json)"
TOO_LARGE = "The request body is larger than this endpoint accepts (problem+json)"
RATE_LIMITED = "Too many requests for this token; retry after Retry-After seconds (problem+json)"
UNAVAILABLE = (
    "A backing service (database or storage) is not reachable; retry after Retry-After "
    "seconds (problem+json)"
)

WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})


# Answered from memory alone: the process is up or there is no answer at all.
LIVENESS_PATHS = frozenset({"/healthz"})


def document_problems(schema: dict[str, Any], rules: EdgeRules) -> None:
    """List the shared error answers on each operation of ``schema``, each with the Problem
    body; what a route declared itself is kept."""
    schema.setdefault("components", {}).setdefault("schemas", {})[PROBLEM_SCHEMA_NAME] = (
        PROBLEM_SCHEMA
    )
    for path, path_item in schema.get("paths", {}).items():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            if operation.get("security"):
                responses.setdefault("403", {"description": FORBIDDEN})
            elif responses.get("401", {}).get("description") == COMMON_UNAUTHORIZED:
                del responses["401"]  # no token is asked for, so none is refused
            if "{" in path:
                responses.setdefault("404", {"description": NOT_FOUND})
            if _takes_json(operation):
                responses.setdefault("400", {"description": UNREADABLE_BODY})
            if method in WRITE_METHODS and rules.is_api(path):
                # Any write can meet a unique constraint (the shared IntegrityError handler).
                responses.setdefault("409", {"description": CONFLICT})
            if "requestBody" in operation and rules.body_limited(path):
                responses.setdefault("413", {"description": TOO_LARGE})
            if rules.rate_limited(path):
                responses.setdefault("429", {"description": RATE_LIMITED})
            if path not in LIVENESS_PATHS:
                responses.setdefault("503", {"description": UNAVAILABLE})
            for status, response in responses.items():
                if status[:1] in "45" and "content" not in response:
                    response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            operation["responses"] = dict(sorted(responses.items()))


def _takes_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})
