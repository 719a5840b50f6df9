"""events.text: NUL in the decoded JSON, not the escaped sequence in the bytes."""

from __future__ import annotations

from typing import Any

import pytest

from nfhub_compute.events.parsing import read_event
from nfhub_compute.events.text import holds_nul, json_holds_nul
from nfhub_shared.errors import BadRequest


@pytest.mark.parametrize(
    "body",
    [
        b'{"tag": "a\\u0000b"}',
        b'{"a\\u0000": 1}',
        b'{"tasks": [{"env": {"deep": ["x", "\\u0000"]}}]}',
        b'["\\u0000"]',
    ],
)
def test_nul_anywhere_in_the_document_is_found(body: bytes) -> None:
    assert json_holds_nul(body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"tag": "C:\\\\u0000dir"}',  # an escaped backslash, then "u0000": six characters
        b'{"tag": "\\\\\\\\u0000"}',  # two backslashes, then "u0000"
        b'{"tag": "plain"}',
        b'{"tag": "\\u0000',  # no JSON: its parser says what is wrong with it
        b"\xff\xfe\\u0000",
    ],
)
def test_no_nul_is_found_where_there_is_none(body: bytes) -> None:
    assert not json_holds_nul(body)


@pytest.mark.parametrize(
    ("value", "held"),
    [("a\x00", True), ({"k\x00": 1}, True), ([1, [{"x": "\x00"}]], True), (1, False),
     (None, False), ({"k": ["v", 2.5, True]}, False)],
)  # fmt: skip
def test_holds_nul_looks_at_keys_and_values_at_any_depth(value: Any, held: bool) -> None:
    assert holds_nul(value) is held


def test_the_weblog_takes_an_escaped_backslash_and_refuses_nul() -> None:
    event = read_event(b'{"event": "process_submitted", "trace": {"tag": "C:\\\\u0000"}}')
    assert event.trace == {"tag": "C:\\u0000"}

    with pytest.raises(BadRequest, match="NUL"):
        read_event(b'{"event": "process_submitted", "trace": {"tag": "\\u0000"}}')
