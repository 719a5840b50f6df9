"""The committed OpenAPI documents (``openapi/*.json``), as clients and the gateway see them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OPENAPI_DIR = Path(__file__).resolve().parents[2] / "openapi"
HTTP_METHODS = frozenset({"get", "put", "post", "patch", "delete", "head", "options", "trace"})


def committed_documents() -> dict[str, dict[str, Any]]:
    """{file name: document} for every service."""
    return {path.name: json.loads(path.read_text()) for path in sorted(OPENAPI_DIR.glob("*.json"))}


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of an OpenAPI document."""
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
