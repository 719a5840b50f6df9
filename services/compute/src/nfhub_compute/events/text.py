"""The NUL character in what Nextflow sends: PostgreSQL stores it in neither text nor jsonb.

Nextflow has no NUL to send (a task's script, tag or env is shell text, which cannot hold
one), so one in a body is damage, answered with a 4xx that names it, rather than text
quietly changed. Checked on the decoded JSON: ``\\u0000`` is NUL, while ``\\\\u0000`` (an
escaped backslash, then "u0000") is six harmless characters.
"""

from __future__ import annotations

from typing import Any

import pydantic_core

NUL = "\x00"
# How JSON writes NUL (raw control characters are not valid JSON): a body without this
# sequence holds none, whatever else it holds; one with it is decoded to tell.
_ESCAPED_NUL = b"\\u0000"


def holds_nul(value: Any) -> bool:
    """Whether a decoded JSON value holds NUL in any string, key or value, at any depth."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


def json_holds_nul(body: bytes) -> bool:
    """Whether the JSON document in ``body`` holds NUL once decoded; False for one that is no
    JSON (its parser says what is wrong with it)."""
    if _ESCAPED_NUL not in body:
        return False
    try:
        return holds_nul(pydantic_core.from_json(body))
    except ValueError:
        return False
