"""Field types every miner domain shares: display ids, tags, free-form properties."""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, Field

DISPLAY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:=/+-]{0,99}$"
MAX_TAGS = 50
MAX_PROPERTIES_BYTES = 64 * 1024
MAX_PROPERTY_KEYS = 200

DisplayId = Annotated[
    str,
    Field(
        pattern=DISPLAY_ID_PATTERN,
        description="Unique in the project; letters, digits, '.', '_' and '-' (no spaces: "
        "nf-core samplesheets refuse them)",
        examples=["S1"],
    ),
]
Tag = Annotated[str, Field(pattern=TAG_PATTERN)]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS)]


def _bounded(properties: dict[str, Any]) -> dict[str, Any]:
    if len(properties) > MAX_PROPERTY_KEYS:
        raise ValueError(f"at most {MAX_PROPERTY_KEYS} properties")
    size = len(json.dumps(properties, default=str).encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"properties are {size} bytes; at most {MAX_PROPERTIES_BYTES}")
    return properties


Properties = Annotated[dict[str, Any], AfterValidator(_bounded)]


def _not_in_the_future(value: date | None) -> date | None:
    if value is not None and value > date.today():  # noqa: DTZ011 - a calendar date
        raise ValueError("cannot be in the future")
    return value


PastDate = Annotated[date | None, AfterValidator(_not_in_the_future)]


def search_text(*parts: Any) -> str:
    """What free-text search looks in: ids, tags and property values, lower-cased."""
    words: list[str] = []

    def add(value: Any) -> None:
        if value is None:
            return
        if isinstance(value, dict):
            for item in value.values():
                add(item)
        elif isinstance(value, list | tuple):
            for item in value:
                add(item)
        else:
            words.append(str(value))

    for part in parts:
        add(part)
    # Words of letters and digits only, as search_query splits a query: 'MRN-4411' is
    # 'mrn 4411' on both sides (PostgreSQL would read '-4411' as a negative number).
    return " ".join(re.findall(r"[a-z0-9]+", " ".join(words).lower()))[:10_000]


MAX_QUERY_WORDS = 10
# What a search query must contain (OpenAPI: a pattern, so clients see the rule): a word.
SEARCH_PATTERN = r"[A-Za-z0-9]"


def search_query(query: str) -> str | None:
    """A tsquery matching every word of ``query`` as a word prefix ('s12 tum' finds 'S123,
    tumour'); None when it has no letters or digits. Only [a-z0-9] reach the query syntax."""
    # Matched before lowering: some non-ASCII letters lower to ASCII (the Kelvin sign to k),
    # and the document's SEARCH_PATTERN does not count them.
    words = re.findall(r"[A-Za-z0-9]+", query)[:MAX_QUERY_WORDS]
    return " & ".join(f"{word.lower()}:*" for word in words) or None
