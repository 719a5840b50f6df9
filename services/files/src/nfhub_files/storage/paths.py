"""User paths → object keys. Nothing a client sends can name a key outside its project."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

from pydantic import Field

from nfhub_shared.errors import BadRequest

MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# Request schemas cap path fields at this many characters, well above MAX_PATH_BYTES, so that a
# long path gets normalise_path's 400 (the same as every other bad path) rather than a 422;
# the documents say MAX_PATH_BYTES (PATH_SCHEMA).
MAX_PATH_FIELD_CHARS = 4 * MAX_PATH_BYTES
# The local backend's temporary files: hidden from listings, so no client path may use it.
RESERVED_PREFIX = ".nfhub-"
# normalise_path's rules as the OpenAPI pattern of path fields (ECMA-262 and Python alike),
# so clients and generated tests know which paths are refused: no control characters or
# backslashes, no leading '/', no '.', '..', empty or reserved segments, no encoded '.', '/',
# '\\', NUL or '%'. A test holds the two to the same answers.
_SEGMENT = rf"(?!\.\.?(?:/|$))(?!\.nfhub-)[^/\\\x00-\x1f\x7f]{{1,{MAX_SEGMENT_BYTES}}}"
_NO_ENCODED_ESCAPE = r"(?!.*%(?:2[eEfF5]|5[cC]|00))"
# Python's $ also matches before a final newline: "a\n" must fail before reaching it.
_NO_CONTROL = r"(?![\s\S]*[\x00-\x1f\x7f])"
PATH_PATTERN = rf"^{_NO_CONTROL}{_NO_ENCODED_ESCAPE}{_SEGMENT}(?:/{_SEGMENT})*/*$"
# The same, or '' for the project's root (listings, archives).
PATH_OR_ROOT_PATTERN = rf"^(?![\s\S])|{PATH_PATTERN}"
PATH_DESCRIPTION = "Path inside the project"
# What the documents say of a path field; normalise_path enforces it, with a 400 that says
# which rule failed (maxLength: characters there, UTF-8 bytes here).
PATH_SCHEMA = {"pattern": PATH_PATTERN, "maxLength": MAX_PATH_BYTES}
PATH_OR_ROOT_SCHEMA = {"pattern": PATH_OR_ROOT_PATTERN, "maxLength": MAX_PATH_BYTES}

# Path fields of request bodies.
ProjectPath = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_PATH_FIELD_CHARS,
        description=PATH_DESCRIPTION,
        json_schema_extra=PATH_SCHEMA,
    ),
]
ProjectPathOrRoot = Annotated[
    str,
    Field(
        max_length=MAX_PATH_FIELD_CHARS,
        description="A file or a folder (recursively); '' for everything",
        json_schema_extra=PATH_OR_ROOT_SCHEMA,
    ),
]
# After the one URL-decoding the framework did, an escape left in the path means the client
# encoded twice (%252e → %2e): refuse it rather than guess.
_ENCODED_ESCAPE = re.compile(r"%(2e|2f|5c|00|25)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidPath(BadRequest):
    title = "Invalid path"


def project_prefix(project_id: uuid.UUID) -> str:
    return f"projects/{project_id}/"


def normalise_path(path: str, *, folder: bool = False, allow_root: bool = False) -> str:
    """A clean relative path: ``a/b/c.fastq.gz``, or ``a/b/`` for folders, ``""`` for the root."""
    if _CONTROL.search(path):
        raise InvalidPath("Paths cannot contain control characters or NUL.")
    if "\\" in path:
        raise InvalidPath("Use '/' to separate folders; backslashes are not allowed.")
    if _ENCODED_ESCAPE.search(path):
        raise InvalidPath(
            "The path holds an encoded '.', '/', '\\\\' or '%': send it decoded once."
        )
    if path.startswith("/"):
        raise InvalidPath("Paths are relative to the project: drop the leading '/'.")
    if len(path.encode()) > MAX_PATH_BYTES:
        raise InvalidPath(f"Paths are at most {MAX_PATH_BYTES} bytes long.")
    segments = [segment for segment in path.split("/") if segment != ""]
    for segment in segments:
        if segment in {".", ".."}:
            raise InvalidPath("Paths cannot contain '.' or '..' segments.")
        if len(segment.encode()) > MAX_SEGMENT_BYTES:
            raise InvalidPath(f"A file or folder name is at most {MAX_SEGMENT_BYTES} bytes long.")
        if segment.startswith(RESERVED_PREFIX):
            raise InvalidPath(f"Names starting with {RESERVED_PREFIX!r} are reserved; rename it.")
    if "//" in path.strip("/"):
        raise InvalidPath("Paths cannot contain empty segments ('//').")
    if not segments:
        if allow_root:
            return ""
        raise InvalidPath("Name a file or folder inside the project.")
    clean = "/".join(segments)
    return clean + "/" if folder else clean


def object_key(project_id: uuid.UUID, relative: str) -> str:
    return project_prefix(project_id) + relative


def relative_path(project_id: uuid.UUID, key: str) -> str:
    prefix = project_prefix(project_id)
    if not key.startswith(prefix):
        raise ValueError(f"key {key!r} is outside project {project_id}")
    return key[len(prefix) :]
