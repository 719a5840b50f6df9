"""What the storage backends raise: the API's problems, and the refusals of an upload's bytes
that the blob endpoint (local) or the archive writer words for the caller."""

from __future__ import annotations

from nfhub_shared.errors import Conflict, NotFound, ServiceUnavailable


class StorageUnavailable(ServiceUnavailable):
    title = "Storage unavailable"


class ObjectNotFound(NotFound):
    title = "No such file or folder"


class ObjectExists(Conflict):
    title = "Destination exists"


class UploadBusy(Conflict):
    title = "Upload busy"


class UploadTooLarge(Exception):
    """More bytes arrived than the upload may hold."""


class ChecksumMismatch(Exception):
    """The bytes do not match a checksum the upload was signed for (the algorithm's name)."""
