"""HMAC-signed blob URLs for the local backend: method, key, expiry and size limit are signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import NamedTuple
from urllib.parse import quote, urlencode

from nfhub_shared.auth.tokens import secrets_match
from nfhub_shared.errors import Forbidden


class InvalidSignature(Forbidden):
    title = "Invalid or expired signature"


class BlobGrant(NamedTuple):
    """What a verified URL allows (a named tuple: one is made for every URL signed)."""

    method: str
    key: str
    expires: int
    max_size: int | None
    sha256: str | None
    md5: str | None
    upload_id: str | None
    part_number: int | None


def _canonical(grant: BlobGrant) -> bytes:
    fields = [
        grant.method,
        grant.key,
        str(grant.expires),
        "" if grant.max_size is None else str(grant.max_size),
        grant.sha256 or "",
        grant.md5 or "",
        grant.upload_id or "",
        "" if grant.part_number is None else str(grant.part_number),
    ]
    return "\n".join(fields).encode()


class BlobSigner:
    def __init__(self, secret: str, base_url: str) -> None:
        # Keyed once and copied per signature: hmac.digest sets the key up on every call,
        # more than half of what a signature costs (one for every URL handed out).
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)
        self.base_url = base_url.rstrip("/")

    def _signature(self, grant: BlobGrant) -> str:
        mac = self._keyed.copy()
        mac.update(_canonical(grant))
        return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()

    def url(self, grant: BlobGrant) -> str:
        # The expiry is digits and the signature URL-safe base64: neither needs encoding,
        # and a download URL (signed for every file a client fetches) has nothing else.
        query = f"expires={grant.expires}"
        extra: dict[str, str] = {}
        if grant.max_size is not None:
            extra["max_size"] = str(grant.max_size)
        if grant.sha256:
            extra["sha256"] = grant.sha256
        if grant.md5:
            extra["md5"] = grant.md5
        if grant.upload_id:
            extra["upload_id"] = grant.upload_id
        if grant.part_number is not None:
            extra["part_number"] = str(grant.part_number)
        if extra:
            query = f"{query}&{urlencode(extra)}"
        signature = self._signature(grant)
        return f"{self.base_url}/blobs/{quote(grant.key)}?{query}&signature={signature}"

    def verify(self, grant: BlobGrant, signature: str) -> None:
        if not secrets_match(self._signature(grant), signature):
            raise InvalidSignature("The URL's signature does not match; ask for a new URL.")
        if grant.expires < int(time.time()):
            raise InvalidSignature("The URL has expired; ask for a new one.")
