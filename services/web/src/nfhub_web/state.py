"""web's typed lifespan state and the dependencies that hand it to endpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from nfhub_shared.sealing import KeyRing
from nfhub_shared.state import ServiceState
from nfhub_web.apis import Apis
from nfhub_web.auth.service import ProvidersCache
from nfhub_web.config import Settings


class WebState(ServiceState):
    settings: Settings
    apis: Apis
    session_keys: KeyRing
    login_providers: ProvidersCache


async def get_web_state(request: Request) -> WebState:
    return WebState.of(request.app)


WebStateDep = Annotated[WebState, Depends(get_web_state)]


async def get_settings(state: WebStateDep) -> Settings:
    return state.settings


async def get_apis(state: WebStateDep) -> Apis:
    return state.apis


SettingsDep = Annotated[Settings, Depends(get_settings)]
ApisDep = Annotated[Apis, Depends(get_apis)]
