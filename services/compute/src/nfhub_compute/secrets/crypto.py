"""Pipeline secrets at rest: AES-256-GCM under COMPUTE_SECRETS_KEY, older keys still read.

A sealed value is ``v1.<key id>.<base64url(nonce | ciphertext | tag)>``. The key id (a
fingerprint, never the key) says which key sealed it, so a rotation can run while the
service serves: every key in the ring opens what it sealed, only the current key seals. The
associated data binds the ciphertext to its row (org, project, name): a ciphertext copied
into another org's or project's row does not open.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from nfhub_compute.config import Settings, check_secrets_key

VERSION = "v1"
NONCE_BYTES = 12


class SecretUnreadable(Exception):
    """No key of the ring opens the value (a key was dropped too early, or the row was moved)."""


def key_id(raw: bytes) -> str:
    return hashlib.sha256(b"nfhub-secrets-key-id:" + raw).hexdigest()[:12]


def binding(org_id: uuid.UUID, project_id: uuid.UUID | None, name: str) -> bytes:
    """The associated data of a secret: where it belongs."""
    return f"{org_id}/{project_id or '-'}/{name}".encode()


class SecretBox:
    def __init__(self, current: SecretStr, previous: Sequence[SecretStr] = ()) -> None:
        raw = check_secrets_key(current.get_secret_value())
        self.current_id = key_id(raw)
        self._keys = {self.current_id: AESGCM(raw)}
        for old in previous:
            old_raw = check_secrets_key(old.get_secret_value())
            self._keys.setdefault(key_id(old_raw), AESGCM(old_raw))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.SECRETS_KEY, settings.SECRETS_OLD_KEYS)

    def __repr__(self) -> str:
        return f"SecretBox(current={self.current_id}, keys={len(self._keys)})"

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
            raise SecretUnreadable(
                f"sealed with key {kid or '?'}, which is neither COMPUTE_SECRETS_KEY nor in "
                f"COMPUTE_SECRETS_OLD_KEYS"
            )
        try:
            data = base64.urlsafe_b64decode(body.encode("ascii"))
            plain = key.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], associated)
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable("the stored value does not open with its key") from exc
        return plain.decode("utf-8")

    def is_current(self, sealed: str) -> bool:
        return sealed.startswith(f"{VERSION}.{self.current_id}.")
