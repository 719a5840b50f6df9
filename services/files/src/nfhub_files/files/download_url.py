"""GET /files/download-url as a plain Starlette route, documented in OpenAPI by OPENAPI_PATHS.

A client fetching a run's outputs or a samplesheet's FASTQs asks for one URL per file, so this
is the service's hottest call. FastAPI's request handler (query parameter machinery, response
validation, its dependency solve) cost about 30% of its throughput (bench/files.py); this route
does the same steps directly: the same project-role dependency, the same validation of
``path`` (errors rendered as FastAPI's 422 problems), the same response model.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import Field, TypeAdapter, ValidationError

from nfhub_files.access import READ_SCOPE
from nfhub_files.files.endpoints import file_reader
from nfhub_files.files.schemas import DownloadUrl
from nfhub_files.files.service import FileReader
from nfhub_files.storage.paths import MAX_PATH_FIELD_CHARS, PATH_DESCRIPTION, PATH_SCHEMA
from nfhub_shared.app import COMMON_RESPONSES
from nfhub_shared.auth.dependencies import BEARER_SCHEME, ProjectRoleAuth
from nfhub_shared.auth.principal import ProjectRole
from nfhub_shared.openapi import document_project_header

router = APIRouter(tags=["files"])

_reader = ProjectRoleAuth(ProjectRole.viewer, (READ_SCOPE,), build=file_reader)
_path = TypeAdapter(Annotated[str, Field(max_length=MAX_PATH_FIELD_CHARS)])
_serialize = DownloadUrl.__pydantic_serializer__.to_json


def _query_path(request: Request) -> str:
    """``path`` as FastAPI would take it: the last value given, a str of bounded length.

    Parsed as Starlette parses a query string, without building its multi-dict of every
    parameter (that was 2 µs of a URL's ~70 here).
    """
    value: str | None = None
    query: str = request.scope["query_string"].decode("latin-1")
    for name, given in parse_qsl(query, keep_blank_values=True):
        if name == "path":
            value = given
    if value is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("query", "path"), "msg": "Field required", "input": None}]
        )
    if len(value) <= MAX_PATH_FIELD_CHARS:
        return value
    try:  # pydantic words the refusal, as it does for FastAPI's parameters
        return _path.validate_python(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("query", "path")} for error in exc.errors(include_url=False)]
        ) from exc


async def get_download_url(request: Request) -> Response:
    """A signed, expiring URL to GET the file (supports Range)."""
    files: FileReader = await _reader.authenticate_request(request, _reader.scopes)
    signed = await files.download_url(_query_path(request))
    # Serialised by the model's own serializer: FastAPI's response handling would dump it to
    # a dict and validate that again.
    return Response(_serialize(signed), media_type="application/json")


router.add_route("/files/download-url", get_download_url, methods=["GET"], include_in_schema=False)


def _operation() -> dict[str, Any]:
    """The OpenAPI operation FastAPI wrote for this endpoint when it was a FastAPI route."""
    operation: dict[str, Any] = {
        "tags": ["files"],
        "summary": "Get Download Url",
        "description": str(get_download_url.__doc__),
        "operationId": "get_download_url",
        # The app factory adds the OAuth2 password alternative with the same scopes.
        "security": [{BEARER_SCHEME: [READ_SCOPE]}],
        "parameters": [
            {
                "name": "path",
                "in": "query",
                "required": True,
                "schema": {
                    "type": "string",
                    **PATH_SCHEMA,
                    "description": PATH_DESCRIPTION,
                    "title": "Path",
                },
                "description": PATH_DESCRIPTION,
            }
        ],
        "responses": {
            "200": {
                "description": "Successful Response",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/DownloadUrl"}}
                },
            },
            **{str(status): response for status, response in COMMON_RESPONSES.items()},
        },
    }
    document_project_header(operation)
    return operation


OPENAPI_PATHS: dict[str, dict[str, Any]] = {"/api/v1/files/download-url": {"get": _operation()}}
