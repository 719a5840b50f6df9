"""Values sealed at rest with AES-256-GCM under a service's key, older keys still read (the
same format as compute's pipeline secrets): ``v1.<key id>.<base64url(nonce|ciphertext|tag)>``.
The associated data binds a ciphertext to its row: copied into another row, it does not open.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"
NONCE_BYTES = 12
NEW_KEY_HINT = (
    "a key is 32 random bytes, written as 64 hex digits (openssl rand -hex 32) or in URL-safe "
    "base64 (openssl rand -base64 32 | tr '+/' '-_')"
)


class Unsealable(Exception):
    """No key of the ring opens the value."""


def parse_key(key: str) -> bytes:
    """The 32 bytes of a key (hex or URL-safe base64); ValueError, never showing the key."""
    raw = b""
    with contextlib.suppress(ValueError):
        raw = bytes.fromhex(key) if len(key) == 64 else base64.urlsafe_b64decode(key.encode())
    if len(raw) != 32:
        raise ValueError(f"not a 32-byte key: {NEW_KEY_HINT}")
    return raw


def key_id(raw: bytes) -> str:
    return hashlib.sha256(b"nfhub-secrets-key-id:" + raw).hexdigest()[:12]


class KeyRing:
    def __init__(self, current: str, previous: Sequence[str] = ()) -> None:
        raw = parse_key(current)
        self.current_id = key_id(raw)
        self._keys = {self.current_id: AESGCM(raw)}
        for old in previous:
            old_raw = parse_key(old)
            self._keys.setdefault(key_id(old_raw), AESGCM(old_raw))

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current_id}, keys={len(self._keys)})"

    def seal(self, value: str, associated: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_id].encrypt(nonce, value.encode("utf-8"), associated)
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii")
        return f"{VERSION}.{self.current_id}.{body}"

    def open(self, sealed: str, associated: bytes) -> str:
        version, _, rest = sealed.partition(".")
        kid, _, body = rest.partition(".")
        key = self._keys.get(kid)
        if version != VERSION or key is None:
            raise Unsealable(f"sealed with key {kid or '?'}, which is not in the key ring")
        try:
            data = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = key.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], associated)
        except (InvalidTag, ValueError) as exc:
            raise Unsealable("the stored value does not open with its key") from exc
        return plain.decode("utf-8")

    def is_current(self, sealed: str) -> bool:
        return sealed.startswith(f"{VERSION}.{self.current_id}.")
