"""Paths of data files: in the project's storage (relative), or URIs outside it."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

# Schemes of files outside the project's storage that a pipeline can still read.
EXTERNAL_SCHEMES = ("https://", "http://", "s3://", "gs://", "az://", "ftp://")


def is_external(path: str) -> bool:
    return path.startswith(EXTERNAL_SCHEMES)


def pipeline_uri(storage_uri: str, path: str) -> str:
    """What a pipeline reads for ``path``: a URI as given, or the file in the project's
    storage (a plain path on local storage, the object's URI on S3)."""
    if is_external(path):
        return path
    uri = storage_uri + path
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def shown_base(storage_uri: str) -> str:
    """What a project path is prefixed with in what users see: nothing on local storage (the
    server's own folders are no one's business), the bucket's URI on S3."""
    return "" if urlparse(storage_uri).scheme == "file" else pipeline_uri(storage_uri, "")
