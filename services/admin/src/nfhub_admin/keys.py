"""admin's signing keys: Ed25519, published as a JWKS for the other services."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt import PyJWK

from nfhub_admin.config import Settings

logger = structlog.get_logger("nfhub.admin.keys")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SigningKeys:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        public_raw = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.kid = _b64url(hashlib.sha256(public_raw).digest()[:12])
        self.public_jwk: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(public_raw),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }
        self._verification_key = PyJWK.from_json(json.dumps(self.public_jwk))

    @classmethod
    def from_settings(cls, settings: Settings) -> SigningKeys:
        pem: bytes | None = None
        if settings.JWT_PRIVATE_KEY is not None:
            pem = settings.JWT_PRIVATE_KEY.get_secret_value().encode()
        elif settings.JWT_PRIVATE_KEY_FILE is not None:
            pem = settings.JWT_PRIVATE_KEY_FILE.read_bytes()
        if pem is None:
            # Only reachable in dev/test: production settings refuse to load without a key.
            logger.warning("no ADMIN_JWT_PRIVATE_KEY set; using a throw-away key for this process")
            return cls(Ed25519PrivateKey.generate())
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("ADMIN_JWT_PRIVATE_KEY must be an Ed25519 private key (PKCS8 PEM)")
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def verification_key(self, kid: str) -> PyJWK | None:
        return self._verification_key if kid == self.kid else None

    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()
