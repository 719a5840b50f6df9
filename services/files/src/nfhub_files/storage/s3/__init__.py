"""S3 backend: objects in one bucket of any S3-compatible store, reached with boto3.

Bytes never pass through this process for clients: they PUT and GET presigned URLs, and S3 itself
enforces what was signed (size, content type, checksums). Folders are zero-byte marker objects
``prefix/``, as the S3 console makes them. botocore is blocking, so every call runs in a worker
thread, bounded by a limiter the size of the connection pool; timeouts and retries are capped so a
store that is down or silent becomes ``StorageUnavailable`` (503), never a hang.

storage.py holds the backend, errors.py the translation of botocore's failures, values.py the
conversions between S3's keys and values and the service's.
"""

from __future__ import annotations

from nfhub_files.storage.s3.errors import InvalidUploadParts
from nfhub_files.storage.s3.storage import READ_CHUNK, S3Storage

__all__ = ["READ_CHUNK", "InvalidUploadParts", "S3Storage"]
