"""What S3 takes and gives, in this service's terms: keys, folder markers, dates, ETags,
checksums and the download's file name."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from nfhub_files.storage.base import ObjectInfo
from nfhub_files.storage.errors import ObjectNotFound

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectTypeDef

_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def check_key(key: str) -> str:
    """Refuse keys a URL or a store could reinterpret; the service never produces them."""
    segments = key.split("/")
    if (
        not key
        or key.startswith("/")
        or _CONTROL.search(key)
        or any(segment in {".", ".."} for segment in segments)
        or "" in segments[:-1]
    ):
        raise ObjectNotFound("No such file or folder.")
    return key


def folder_marker(prefix: str) -> str:
    return prefix if prefix.endswith("/") else prefix + "/"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def unquoted_etag(value: str | None) -> str | None:
    return value.strip('"') if value else None


def object_info(item: ObjectTypeDef) -> ObjectInfo:
    return ObjectInfo(
        key=item["Key"],
        size=item.get("Size", 0),
        modified=aware(item["LastModified"]),
        etag=unquoted_etag(item.get("ETag")),
    )


def b64_of_hex(digest: str) -> str:
    return base64.b64encode(bytes.fromhex(digest)).decode()


def sha256_hex(value: str | None, checksum_type: str | None) -> str | None:
    # A multipart object's checksum is a checksum of part checksums ("…-N"): not the file's.
    if not value or "-" in value or checksum_type == "COMPOSITE":
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def attachment(filename: str) -> str:
    """Content-Disposition for a download: an ASCII fallback plus the exact UTF-8 name."""
    fallback = re.sub(r'[^\x20-\x7e]|["\\]', "_", filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
