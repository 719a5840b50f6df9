"""How an import's sheet arrives: as the body itself (``text/csv``, NDJSON), or as the ``file``
part of a ``multipart/form-data`` body (what browsers and generated clients send).

Both are read as a stream and refused past ``MINER_IMPORT_MAX_BYTES``, never buffered whole
before the check.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import PurePosixPath

from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from nfhub_miner.samples.schemas import ImportFormat
from nfhub_shared.errors import (
    BadRequest,
    FieldProblem,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

IMPORT_TYPES: dict[str, ImportFormat] = {
    "text/csv": "csv",
    "text/tab-separated-values": "csv",
    "text/plain": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/jsonlines": "jsonl",
}
# A file part sent as application/octet-stream says what it is by its name.
IMPORT_EXTENSIONS: dict[str, ImportFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
MULTIPART = "multipart/form-data"
FILE_PART = "file"
# Room for the multipart envelope (boundary lines, part headers) around the largest sheet.
ENVELOPE_BYTES = 64 * 1024


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Imports are at most {max_bytes} bytes; split the sheet.")


async def _capped(request: Request, limit: int, max_bytes: int) -> AsyncGenerator[bytes, None]:
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large(max_bytes)
        yield chunk


async def read_sheet(
    request: Request, file_format: ImportFormat | None, max_bytes: int
) -> tuple[bytes, ImportFormat]:
    """The sheet's bytes and their format (``?format=`` first, then what the request says)."""
    media_type = _media_type(request.headers.get("content-type"))
    if media_type == MULTIPART:
        return await _read_file_part(request, file_format, max_bytes)
    chosen = file_format or IMPORT_TYPES.get(media_type)
    if chosen is None:
        raise UnsupportedMediaType(
            "Send the sheet as text/csv or application/x-ndjson, or as the 'file' part of a "
            "multipart/form-data body (or name its format with ?format=)."
        )
    body = bytearray()
    async for chunk in _capped(request, max_bytes, max_bytes):
        body += chunk
    return bytes(body), chosen


async def _read_file_part(
    request: Request, file_format: ImportFormat | None, max_bytes: int
) -> tuple[bytes, ImportFormat]:
    parser = MultiPartParser(
        request.headers,
        _capped(request, max_bytes + ENVELOPE_BYTES, max_bytes),
        max_files=1,
        max_fields=20,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise BadRequest(f"The multipart/form-data body cannot be read: {exc.message}") from exc
    try:
        part = form.get(FILE_PART)
        if part is None:
            detail = f"Send the sheet as the '{FILE_PART}' part of the multipart/form-data body."
            raise ValidationFailed(detail, errors=[FieldProblem(FILE_PART, detail, "missing")])
        if isinstance(part, str):  # a plain field rather than a file: the sheet as text
            data, part_type, name = part.encode(), None, ""
        else:
            data, part_type, name = await part.read(), part.content_type, part.filename or ""
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
        chosen = (
            file_format
            or IMPORT_TYPES.get(_media_type(part_type))
            or IMPORT_EXTENSIONS.get(PurePosixPath(name).suffix.lower())
        )
        if chosen is None:
            raise UnsupportedMediaType(
                f"The '{FILE_PART}' part is neither text/csv nor application/x-ndjson, and its "
                f"name ends in none of {', '.join(IMPORT_EXTENSIONS)}; name its format with "
                f"?format=csv or ?format=jsonl."
            )
        return data, chosen
    finally:
        await form.close()
