"""What compute's lifespan keeps on ``app.state``, typed, and the dependencies that hand it out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.config import Settings
from nfhub_compute.events.repository import EventsConnect
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.state import ServiceState


class ComputeState(ServiceState):
    settings: Settings
    admin_client: AdminClient
    files_client: FilesClient
    backend: JobBackend
    # Opens a connection of the weblog's own autocommit engine (see main.lifespan).
    events_connect: EventsConnect


def get_compute_state(request: Request) -> ComputeState:
    return ComputeState.of(request.app)


ComputeStateDep = Annotated[ComputeState, Depends(get_compute_state)]


def get_settings(request: Request) -> Settings:
    return ComputeState.of(request.app).settings


def get_admin_client(request: Request) -> AdminClient:
    return ComputeState.of(request.app).admin_client


def get_files_client(request: Request) -> FilesClient:
    return ComputeState.of(request.app).files_client


def get_backend(request: Request) -> JobBackend:
    return ComputeState.of(request.app).backend


SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminClientDep = Annotated[AdminClient, Depends(get_admin_client)]
FilesClientDep = Annotated[FilesClient, Depends(get_files_client)]
BackendDep = Annotated[JobBackend, Depends(get_backend)]
