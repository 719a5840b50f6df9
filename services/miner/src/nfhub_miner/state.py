"""miner's typed lifespan state and the dependencies that hand it to endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nfhub_miner.compute_client import ComputeClient
from nfhub_miner.config import Settings
from nfhub_miner.orders.follower import RunFollower
from nfhub_shared.auth.dependencies import bearer_token
from nfhub_shared.clients import AdminClient, FilesClient
from nfhub_shared.state import ServiceState


class MinerState(ServiceState):
    settings: Settings
    admin_client: AdminClient
    files_client: FilesClient
    compute_client: ComputeClient
    run_follower: RunFollower


async def get_miner_state(request: Request) -> MinerState:
    return MinerState.of(request.app)


MinerStateDep = Annotated[MinerState, Depends(get_miner_state)]


async def get_settings(state: MinerStateDep) -> Settings:
    return state.settings


async def get_admin_client(state: MinerStateDep) -> AdminClient:
    return state.admin_client


async def get_files_client(state: MinerStateDep) -> FilesClient:
    return state.files_client


async def get_compute_client(state: MinerStateDep) -> ComputeClient:
    return state.compute_client


async def get_caller_token(request: Request) -> str:
    """The caller's bearer token: miner calls files and compute as the caller."""
    return bearer_token(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
AdminClientDep = Annotated[AdminClient, Depends(get_admin_client)]
FilesClientDep = Annotated[FilesClient, Depends(get_files_client)]
ComputeClientDep = Annotated[ComputeClient, Depends(get_compute_client)]
CallerTokenDep = Annotated[str, Depends(get_caller_token)]
