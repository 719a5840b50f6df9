"""What files routes answer beyond the problems every route gives (nfhub_shared.openapi_problems),
for their OpenAPI entries: a client reads there which statuses to handle."""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]
# Starlette's own answers to a bad Range (not ours to reword).
_TEXT = {"text/plain": {"schema": {"type": "string"}}}

IN_THE_WAY: Responses = {
    409: {"description": "A file or folder is in the way of this path (problem+json)"}
}
DESTINATION_TAKEN: Responses = {
    409: {
        "description": "The destination exists and overwrite is false, a file and a folder "
        "would be mixed, or another request holds the path (problem+json)"
    }
}
COMPLETING: Responses = {
    409: {
        "description": "A folder is in the way, or another request is completing this "
        "upload or uploading one of its parts (problem+json)"
    }
}
_SIGNED: Responses = {
    403: {"description": "The signature does not match the URL, or it expired (problem+json)"},
    404: {
        "description": "The file (or the multipart upload) is gone, or this server stores "
        "files in S3 (problem+json)"
    },
}
BLOB_DOWNLOAD: Responses = {
    **_SIGNED,
    206: {"description": "The byte range asked for (Range: bytes=…)"},
    400: {"description": "A Range header that is not bytes=…", "content": _TEXT},
    416: {"description": "The Range asked for lies outside the file", "content": _TEXT},
}
BLOB_UPLOAD: Responses = {
    **_SIGNED,
    400: {"description": "The upload was interrupted; nothing was kept (problem+json)"},
    409: {
        "description": "A folder is in the way, or another request is uploading this part "
        "(problem+json)"
    },
    413: {"description": "More bytes than the URL was signed for; nothing was kept (problem+json)"},
    422: {
        "description": "The bytes do not match the sha256 or md5 the URL was signed for; "
        "nothing was kept (problem+json)"
    },
}
