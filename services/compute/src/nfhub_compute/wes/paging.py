"""Opaque page tokens: URL-safe base64 of a small JSON document naming where a page starts.

Not signed: a token only says where to resume inside a list the caller may read anyway (the
project filter is the query's, never the token's), so a forged one shows nothing new. Anything
that does not decode into the expected shape is refused with a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from nfhub_compute.wes.errors import InvalidPageToken, WesTaskPageNotFound
from nfhub_compute.wes.schemas import PageKey
from nfhub_shared.errors import AppError

MAX_TOKEN_CHARS = 200


def _encode(document: dict[str, Any]) -> str:
    raw = json.dumps(document, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str, kind: str, refused: AppError | None = None) -> dict[str, Any]:
    refused = refused or InvalidPageToken(
        "page_token is not one this list gave out: pass next_page_token from the previous "
        "answer unchanged, or leave it out for the first page."
    )
    if len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise refused
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(document, dict) or document.get("k") != kind:
        raise refused
    return document


def run_token(key: PageKey) -> str:
    return _encode({"k": "runs", "t": key.created_at.isoformat(), "i": str(key.id)})


def run_key(token: str) -> PageKey:
    document = _decode(token, "runs")
    try:
        created_at = datetime.fromisoformat(str(document["t"]))
        run_id = uuid.UUID(str(document["i"]))
        if created_at.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC here, not in the driver: 0001-01-01T00:00+14:00 is before year 1.
        created_at = created_at.astimezone(UTC)
    except (KeyError, ValueError, OverflowError):
        raise InvalidPageToken("page_token is damaged; start again from the first page.") from None
    return PageKey(created_at, run_id)


def task_token(task_id: int) -> str:
    return _encode({"k": "tasks", "i": task_id})


def task_key(token: str, run_id: uuid.UUID) -> int:
    """ListTasks has no 400 in the spec: a token it did not give out names no page of the
    run's tasks, a 404."""
    refused = WesTaskPageNotFound(
        f"No page of run {run_id}'s tasks has that page_token: pass next_page_token from "
        f"the previous answer unchanged, or leave it out for the first page."
    )
    value = _decode(token, "tasks", refused).get("i")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63:
        raise refused
    return value
