"""A sample file's documented pattern and _check_path accept the same paths (schemathesis
would see a difference as a schema-valid path refused, or a forbidden one stored)."""

from __future__ import annotations

import random
import re

import pytest

from nfhub_miner.samples.schemas import PATH_PATTERN, _check_path

CASES = [
    "a", "a/b.fastq.gz", "/a", "a//b", "a/", "./a", "a/./b", "..", "...", "a/..", "..\n",
    "s3://bucket/x", "https://", "http://a/../b", "a://b", "ftp:/x", "a:b", "a\x00b", "a\n",
]  # fmt: skip


def accepted(path: str) -> bool:
    try:
        _check_path(path)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("path", CASES)
def test_pattern_and_rules_agree(path: str) -> None:
    assert (re.search(PATH_PATTERN, path) is not None) == accepted(path)


def test_pattern_and_rules_agree_on_random_paths() -> None:
    generator = random.Random(20261207)
    for _ in range(20_000):
        path = "".join(generator.choices("a./:s3\x00\n", k=generator.randint(1, 10)))
        assert (re.search(PATH_PATTERN, path) is not None) == accepted(path), repr(path)
