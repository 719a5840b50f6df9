"""argon2id password hashing, off the event loop (a hash costs tens of milliseconds)."""

from __future__ import annotations

import base64
import secrets

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import ARGON2_VERSION


def unmatchable_hash(hasher: PasswordHasher) -> str:
    """An encoded argon2 hash with ``hasher``'s parameters and a random digest, which no
    password matches. Verifying against it costs what verifying a real hash costs (the cost is
    in the parameters it names); making it costs nothing, where hashing a password would cost
    a hash at every start."""

    def random_b64(size: int) -> str:
        return base64.b64encode(secrets.token_bytes(size)).rstrip(b"=").decode()

    return (
        f"$argon2{hasher.type.name.lower()}$v={ARGON2_VERSION}"
        f"$m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"
        f"${random_b64(hasher.salt_len)}${random_b64(hasher.hash_len)}"
    )


_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time the same, so
# timing does not reveal which usernames exist.
_DUMMY_HASH = unmatchable_hash(_hasher)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def verify() -> bool:
        try:
            return (
                _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
            )
        except (VerificationError, InvalidHashError):
            return False

    return await anyio.to_thread.run_sync(verify)
