"""Pipeline secrets at rest: AES-256-GCM under COMPUTE_SECRETS_KEY, older keys still read.

The key ring is nfhub_shared.sealing's (the format webhook secrets use too):
``v1.<key id>.<base64url(nonce | ciphertext | tag)>``. The key id (a fingerprint, never the
key) says which key sealed it, so a rotation can run while the service serves. The associated
data binds the ciphertext to its row (org, project, name): a ciphertext copied into another
org's or project's row does not open.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import SecretStr

from nfhub_compute.config import Settings, check_secrets_key
from nfhub_shared.sealing import KeyRing, Unsealable


class SecretUnreadable(Unsealable):
    """No key of the ring opens the value (a key was dropped too early, or the row was moved)."""


def binding(org_id: uuid.UUID, project_id: uuid.UUID | None, name: str) -> bytes:
    """The associated data of a secret: where it belongs."""
    return f"{org_id}/{project_id or '-'}/{name}".encode()


class SecretBox(KeyRing):
    """The shared key ring over COMPUTE_SECRETS_KEY and COMPUTE_SECRETS_OLD_KEYS."""

    def __init__(self, current: SecretStr, previous: Sequence[SecretStr] = ()) -> None:
        for key in (current, *previous):
            check_secrets_key(key.get_secret_value())  # the error names the setting's format
        super().__init__(current.get_secret_value(), [k.get_secret_value() for k in previous])

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        return cls(settings.SECRETS_KEY, settings.SECRETS_OLD_KEYS)

    def __repr__(self) -> str:
        return f"SecretBox(current={self.current_id}, keys={len(self._keys)})"

    def open(self, sealed: str, associated: bytes) -> str:
        try:
            return super().open(sealed, associated)
        except Unsealable as exc:
            raise SecretUnreadable(
                f"{exc} (COMPUTE_SECRETS_KEY and COMPUTE_SECRETS_OLD_KEYS)"
            ) from exc
