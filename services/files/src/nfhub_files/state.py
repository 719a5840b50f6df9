"""What the files lifespan keeps on ``app.state``, typed, and the dependencies that hand it out.

The dependencies are async: a sync one would cost a worker-thread round trip per request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Request

from nfhub_files.config import Settings
from nfhub_files.storage.base import StorageBackend
from nfhub_shared.state import ServiceState


class FilesState(ServiceState):
    settings: Settings
    storage: StorageBackend


def storage_and_settings(app: FastAPI) -> tuple[StorageBackend, Settings]:
    """``FilesState.of(app)``'s two resources, read without building the view: signed-URL
    issuance asks for them on every request (bench/files.py), and the view's construction and
    attribute fallback would add to each."""
    state = app.state
    return state.storage, state.settings


async def get_files_state(request: Request) -> FilesState:
    return FilesState.of(request.app)


async def get_settings(request: Request) -> Settings:
    return FilesState.of(request.app).settings


async def get_storage(request: Request) -> StorageBackend:
    return FilesState.of(request.app).storage


FilesStateDep = Annotated[FilesState, Depends(get_files_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
StorageDep = Annotated[StorageBackend, Depends(get_storage)]
