"""admin's typed lifespan state and the dependencies that hand it to endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from nfhub_admin.config import Settings
from nfhub_admin.keys import SigningKeys
from nfhub_shared.state import ServiceState

if TYPE_CHECKING:
    # Only annotations: the domains that use these resources import this module.
    from nfhub_admin.auth.oidc import OidcMetadataCache
    from nfhub_admin.projects.credentials import StsCredentialIssuer


class AdminState(ServiceState):
    settings: Settings
    signing_keys: SigningKeys
    oidc_metadata: OidcMetadataCache
    # Set only on S3 with an STS role: short-lived, prefix-scoped credentials.
    sts_issuer: StsCredentialIssuer | None


async def get_admin_state(request: Request) -> AdminState:
    return AdminState.of(request.app)


AdminStateDep = Annotated[AdminState, Depends(get_admin_state)]


async def get_settings(state: AdminStateDep) -> Settings:
    return state.settings


async def get_signing_keys(state: AdminStateDep) -> SigningKeys:
    return state.signing_keys


SettingsDep = Annotated[Settings, Depends(get_settings)]
SigningKeysDep = Annotated[SigningKeys, Depends(get_signing_keys)]
