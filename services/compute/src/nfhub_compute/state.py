"""What compute's lifespan keeps on ``app.state``, typed, and the dependencies that hand it out."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.backends.pool import BackendPool
from nfhub_compute.config import Settings
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.state import ServiceState


class EventSink(Protocol):
    """Where weblog events go (events.writer.EventWriter): ``store`` returns once committed."""

    async def store(self, run_id: uuid.UUID, event: Any, /) -> None: ...


class ComputeState(ServiceState):
    settings: Settings
    admin_client: AdminClient
    files_client: FilesClient
    backend: JobBackend  # for runs without a compute environment
    backends: BackendPool  # the one above, and one per compute environment
    # Opens a connection of the weblog's own autocommit engine (see main.lifespan); tests give a
    # sessionmaker. Spelled out rather than imported from events.repository: this module is
    # below every domain (their endpoints import it), so it imports none of them.
    events_connect: Callable[[], AbstractAsyncContextManager[AsyncConnection | AsyncSession]]
    # The process's one writer of weblog events, on events_connect (group commit).
    event_writer: EventSink
    # Checks out a connection of the read pool (asyncpg's, main.lifespan): single-statement
    # reads on hot paths (WES's status and run list); tests give a sessionmaker.
    reads_connect: Callable[[], AbstractAsyncContextManager[Any]]


# async: FastAPI runs a plain-def dependency in a worker thread, a round trip per request.
async def get_compute_state(request: Request) -> ComputeState:
    return ComputeState.of(request.app)


ComputeStateDep = Annotated[ComputeState, Depends(get_compute_state)]


async def get_settings(request: Request) -> Settings:
    return ComputeState.of(request.app).settings


SettingsDep = Annotated[Settings, Depends(get_settings)]
