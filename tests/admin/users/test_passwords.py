"""The timing equaliser's hash: verifying against it costs what a real verification costs."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import VerifyMismatchError

from nfhub_admin.users.passwords import unmatchable_hash

HASHERS = [PasswordHasher(), PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)]


@pytest.mark.parametrize("hasher", HASHERS, ids=["default", "cheap"])
def test_the_unmatchable_hash_names_the_hashers_parameters(hasher: PasswordHasher) -> None:
    dummy = unmatchable_hash(hasher)
    assert extract_parameters(dummy) == extract_parameters(hasher.hash("a password"))
    assert not hasher.check_needs_rehash(dummy)
    assert unmatchable_hash(hasher) != dummy  # a random digest each time


def test_no_password_matches_the_unmatchable_hash() -> None:
    hasher = HASHERS[1]
    dummy = unmatchable_hash(hasher)
    for password in ("", "nfhub-timing-equaliser", "a password"):
        with pytest.raises(VerifyMismatchError):
            hasher.verify(dummy, password)
