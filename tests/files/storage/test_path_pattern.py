"""The OpenAPI pattern of path fields says what normalise_path says: the same paths pass.

The pattern is only documented (normalise_path enforces, with its own words), so nothing
else would notice the two drifting apart; schemathesis would, as 400s for paths the document
allows or 2xx for paths it forbids.
"""

from __future__ import annotations

import random
import re

import pytest

from nfhub_files.storage.paths import (
    PATH_OR_ROOT_PATTERN,
    PATH_PATTERN,
    InvalidPath,
    normalise_path,
)

# Each a rule of normalise_path, on both sides of its edge (ASCII: the pattern counts
# characters, normalise_path UTF-8 bytes).
CASES = [
    "a", "a/b/c.fastq.gz", "a/", "a//", "a/b/", "..a", "a..", "...", ".hidden", ".nfhub", "%",
    "a%2", "100%", "a%20b", "/a", "a//b", "a/./b", ".", "..", "./a", "a/..", "a\\b", "a\x00b",
    "a\nb", "a\x7f", "%2e%2e", "a%2Fb", "%5c", "%00", "%25", ".nfhub-tmp", "a/.nfhub-x/b",
    "x" * 255, "x" * 256, "/".join(["x" * 255] * 4), "", "/", "\n",
]  # fmt: skip
ALPHABET = "ab./%25cFe0\\\n-nfhu"


def accepted(path: str, *, allow_root: bool = False) -> bool:
    try:
        normalise_path(path, allow_root=allow_root)
    except InvalidPath:
        return False
    return True


def documented(pattern: str, path: str) -> bool:
    return len(path) <= 1024 and re.search(pattern, path) is not None


@pytest.mark.parametrize("path", CASES)
def test_pattern_and_rules_agree(path: str) -> None:
    assert documented(PATH_PATTERN, path) == accepted(path)
    assert documented(PATH_OR_ROOT_PATTERN, path) == accepted(path, allow_root=True)


def test_pattern_and_rules_agree_on_random_paths() -> None:
    generator = random.Random(20261207)
    for _ in range(20_000):
        path = "".join(generator.choices(ALPHABET, k=generator.randint(0, 12)))
        assert documented(PATH_PATTERN, path) == accepted(path), repr(path)
        assert documented(PATH_OR_ROOT_PATTERN, path) == accepted(path, allow_root=True)
