"""The OpenAPI document: both login schemes, the X-Project-ID header, the problem answers,
and operation ids that read as names in generated clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from nfhub_shared.auth.dependencies import BEARER_SCHEME, PROJECT_HEADER, ProjectRoleAuth
from nfhub_shared.auth.scopes import SCOPES
from nfhub_shared.middleware import EdgeRules
from nfhub_shared.openapi_problems import PROJECT_NOT_FOUND, document_problems

OAUTH2_SCHEME = "OAuth2Password"
UUID_PATTERN = "^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"


def operation_id(route: APIRoute) -> str:
    """The route function's name (``list_pipelines``): what a generated client calls it.

    FastAPI's default appends the path and method (``list_pipelines_api_v1_pipelines_get``).
    Names are unique within a service; FastAPI warns about a duplicate, and the suite turns
    warnings into errors.
    """
    return route.name


def install_openapi(
    app: FastAPI,
    token_url: str,
    extra_paths: Mapping[str, Mapping[str, Any]],
    edge_rules: EdgeRules,
) -> None:
    """Offer username/password login with scopes in Swagger's Authorize, beside the bearer box.

    Every operation secured by the bearer scheme also accepts the OAuth2 password scheme with
    the same scopes; both carry the same access token, so this costs nothing at request time.
    """

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
            separate_input_output_schemas=app.separate_input_output_schemas,
        )
        for path, operations in extra_paths.items():
            schema.setdefault("paths", {}).setdefault(path, {}).update(operations)
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[OAUTH2_SCHEME] = {
            "type": "oauth2",
            "description": "Log in with username and password (admin service), with scopes.",
            "flows": {"password": {"tokenUrl": token_url, "scopes": SCOPES}},
        }
        project_scoped = _project_scoped_operations(app)
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                if (path, method) in project_scoped:
                    document_project_header(operation)
                for requirement in list(operation.get("security", [])):
                    if BEARER_SCHEME in requirement:
                        operation["security"].append({OAUTH2_SCHEME: requirement[BEARER_SCHEME]})
        document_problems(schema, edge_rules)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _uses_project_role(dependant: Dependant) -> bool:
    if isinstance(dependant.call, ProjectRoleAuth):
        return True
    return any(_uses_project_role(sub) for sub in dependant.dependencies)


def _project_scoped_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(path, method) of every operation that reads X-Project-ID through ProjectRoleAuth."""
    return {
        (route.path_format, method.lower())
        for route in app.routes
        if isinstance(route, APIRoute) and _uses_project_role(route.dependant)
        for method in route.methods or ()
    }


def document_project_header(operation: dict[str, Any]) -> None:
    """ProjectRoleAuth reads X-Project-ID itself (cheaper than a declared parameter, and its
    absence is our 400 problem rather than a generic 422); to clients it is a required UUID."""
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("in") == "header" and p.get("name") == PROJECT_HEADER for p in parameters):
        parameters.append(
            {
                "name": PROJECT_HEADER,
                "in": "header",
                "required": True,
                # A pattern, not format "uuid": generators then type it str, which HTTP
                # libraries put in a header as it is (a UUID object they refuse).
                "schema": {"type": "string", "pattern": UUID_PATTERN, "title": PROJECT_HEADER},
                "description": "The project this call works in.",
            }
        )
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "400", {"description": "X-Project-ID missing or not a UUID (problem+json)"}
    )
    responses.setdefault("404", {"description": PROJECT_NOT_FOUND})
