"""CORS for the signed blob URLs, so the web app's pages upload and download straight from the
browser. Only /blobs/ gets it: those URLs carry their own signature and no credentials, while
the API (bearer tokens) has no reason to answer scripts of other origins."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

BLOB_PREFIX = "/blobs/"
# What a browser's PUT of a signed URL sends beyond the safelisted headers (Content-Type of a
# file is rarely a safelisted one) and what its script must read back: a part's ETag, which
# completing a multipart upload names.
ALLOWED_HEADERS = ("content-type", "content-md5", "x-request-id")
EXPOSED_HEADERS = ("ETag", "Content-Length", "X-Request-ID")
PREFLIGHT_MAX_AGE_SECONDS = 600


class BlobCors:
    """Starlette's CORSMiddleware around /blobs/ requests; the app alone for the rest."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "HEAD", "PUT"],
            allow_headers=list(ALLOWED_HEADERS),
            expose_headers=list(EXPOSED_HEADERS),
            allow_credentials=False,
            max_age=PREFLIGHT_MAX_AGE_SECONDS,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(BLOB_PREFIX):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
