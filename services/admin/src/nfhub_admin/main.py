from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from nfhub_admin.api import root_routers, routers
from nfhub_admin.auth.oidc import OidcMetadataCache
from nfhub_admin.bootstrap import bootstrap_first_user, bootstrap_platform_admins
from nfhub_admin.config import Settings
from nfhub_admin.identity import LocalIdentity
from nfhub_admin.keys import SigningKeys
from nfhub_admin.models import audit_events
from nfhub_admin.projects.credentials import StsCredentialIssuer
from nfhub_admin.state import AdminState
from nfhub_shared.app import create_app as create_service_app
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.identity import IdentityResolver

DESCRIPTION = """
Users, organisations, projects and roles; password and OpenID Connect login; access and
refresh tokens; personal access tokens; project storage locations; the audit log.

Authenticate with `Authorization: Bearer <token>`: an access token from `POST /api/v1/auth/login`
or a personal access token (`nfh_pat_…`) from `POST /api/v1/tokens`.
"""

TAGS = [
    {"name": "auth", "description": "Login, refresh, logout, OpenID Connect, signing keys"},
    {"name": "users", "description": "You, your default context, creating users"},
    {"name": "orgs", "description": "Organisations and their members (owner, admin, member)"},
    {"name": "projects", "description": "Projects, members (viewer, editor, admin), storage"},
    {"name": "tokens", "description": "Personal access tokens"},
    {"name": "audit", "description": "Audit log (org admins)"},
    {"name": "internal", "description": "Service-to-service endpoints"},
    {"name": "health", "description": "Liveness and readiness"},
]


def create_app(
    settings: Settings | None = None, *, http_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or Settings()
    keys = SigningKeys.from_settings(settings)
    audit = AuditWriter(audit_events)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = AdminState.of(app)
        state.oidc_metadata = OidcMetadataCache(state.http_client, settings.OIDC_TIMEOUT_SECONDS)
        state.sts_issuer = (
            StsCredentialIssuer(settings)
            if settings.STORAGE_BACKEND == "s3" and settings.STORAGE_STS_ROLE_ARN
            else None
        )
        await bootstrap_first_user(settings, state.sessionmaker, audit)
        await bootstrap_platform_admins(settings, state.sessionmaker, audit)
        yield

    def local_identity(app: FastAPI) -> IdentityResolver:
        return LocalIdentity(keys, AdminState.of(app), audit)

    app = create_service_app(
        settings,
        title="nfhub admin",
        description=DESCRIPTION,
        routers=routers,
        root_routers=root_routers,
        lifespan=lifespan,
        identity_factory=local_identity,
        http_transport=http_transport,
        openapi_tags=TAGS,
        token_url="/api/v1/auth/token",  # noqa: S106 - a URL path, not a secret
    )
    state = AdminState.of(app)
    state.signing_keys = keys
    state.audit_writer = audit
    return app


def run() -> None:
    import uvicorn

    settings = Settings()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=8001, log_config=None)
