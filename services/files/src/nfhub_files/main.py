from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from nfhub_files.api import root_routers, routers
from nfhub_files.archives.worker import archive_worker
from nfhub_files.config import Settings
from nfhub_files.cors import BlobCors
from nfhub_files.files.download_url import OPENAPI_PATHS
from nfhub_files.models import audit_events
from nfhub_files.state import FilesState
from nfhub_files.storage.errors import StorageUnavailable
from nfhub_files.storage.factory import create_storage
from nfhub_files.storage.local import LocalStorage
from nfhub_files.storage.upload_memory import UploadMemoryMetrics
from nfhub_shared.app import create_app as create_service_app
from nfhub_shared.audit import AuditWriter
from nfhub_shared.errors import render_app_error

DESCRIPTION = """
Per-project object storage (local disk or S3) behind signed URLs: list, download and upload URLs
(two steps: get the URL, then GET or PUT the bytes), copy, move, delete, folders, multipart
uploads for large files and zip archives of many files.

Every call names its project in `X-Project-ID`.
"""

logger = structlog.get_logger("nfhub.files")

TAGS = [
    {"name": "files", "description": "Files and folders of a project"},
    {"name": "blobs", "description": "Signed-URL targets of the local backend (no token)"},
    {"name": "health", "description": "Liveness and readiness"},
]


async def check_storage(app: FastAPI) -> None:
    """For /readyz: the storage backend is reachable and usable."""
    await FilesState.of(app).storage.check()


async def storage_failed(request: Request, exc: Exception) -> JSONResponse:
    """An OSError from the disk (full, read-only, I/O error) is the storage's failure: 503."""
    assert isinstance(exc, OSError)
    logger.error("storage error", error=type(exc).__name__, errno=exc.errno, message=str(exc))
    return render_app_error(
        request,
        StorageUnavailable(
            f"The storage failed ({type(exc).__name__}); try again later, and tell an "
            "administrator if it persists.",
            headers={"Retry-After": "5"},
        ),
    )


def create_app(
    settings: Settings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = FilesState.of(app)
        storage = create_storage(settings)
        state.storage = storage
        metrics = (
            UploadMemoryMetrics(storage.upload_memory)
            if isinstance(storage, LocalStorage)
            else None
        )
        if metrics is not None:
            state.metrics_registry.register(metrics)
        try:
            async with archive_worker(app):
                yield
        finally:
            if metrics is not None:
                state.metrics_registry.unregister(metrics)
            await storage.close()

    app = create_service_app(
        settings,
        title="nfhub files",
        description=DESCRIPTION,
        routers=routers,
        root_routers=root_routers,
        lifespan=lifespan,
        http_transport=http_transport,
        openapi_tags=TAGS,
        body_limit_exempt_prefixes=("/blobs/",),
        openapi_paths=OPENAPI_PATHS,
        readiness_checks={"storage": check_storage},
    )
    # Connection and timeout errors (also OSErrors) keep the shared handlers: they are more
    # specific, and Starlette picks the handler by the exception's class hierarchy.
    app.add_exception_handler(OSError, storage_failed)
    FilesState.of(app).audit_writer = AuditWriter(audit_events)
    if settings.CORS_ORIGINS:
        # Outermost: a preflight is answered before the edge's rules, which know no OPTIONS.
        app.add_middleware(BlobCors, origins=settings.CORS_ORIGINS)
    return app


def run() -> None:
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=8003, log_config=None)
