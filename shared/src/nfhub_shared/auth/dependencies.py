"""FastAPI dependencies: who is calling, with which scopes, and with which role in the project."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import structlog
from fastapi import Depends, Header, Request, Security
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    SecurityScopes,
)

from nfhub_shared.auth.identity import IdentityResolver
from nfhub_shared.auth.principal import Principal, ProjectAccess, ProjectRole
from nfhub_shared.auth.scopes import SCOPES
from nfhub_shared.auth.tokens import PAT_PREFIX, REFRESH_PREFIX, ServiceTokens, principal_from_jwt
from nfhub_shared.errors import BadRequest, Forbidden, NotFound, Unauthorized

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="An access token from `POST /api/v1/auth/login` or a personal access token "
    "(`nfh_pat_…`).",
)
oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    scopes=SCOPES,
    auto_error=False,
    scheme_name="OAuth2Password",
    description="Username and password login (admin service), with scopes.",
)
service_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ServiceToken",
    description="Service-to-service token (internal endpoints only).",
)


def get_identity(request: Request) -> IdentityResolver:
    identity: IdentityResolver = request.app.state.identity
    return identity


async def get_current_principal(
    security_scopes: SecurityScopes,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    _oauth2_token: Annotated[str | None, Depends(oauth2_scheme)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized(
            "Send 'Authorization: Bearer <token>' with an access token or a personal access token."
        )
    token = credentials.credentials
    identity = get_identity(request)
    if token.startswith(REFRESH_PREFIX):
        raise Unauthorized(
            "A refresh token is not an access token; exchange it at POST /api/v1/auth/refresh."
        )
    if token.startswith(PAT_PREFIX):
        principal = await identity.resolve_pat(token)
        if principal is None:
            raise Unauthorized("The personal access token is unknown, expired or revoked.")
    else:
        settings = request.app.state.settings
        principal = await principal_from_jwt(
            token,
            identity.signing_key,
            issuer=settings.JWT_ISSUER,
            audience=settings.JWT_AUDIENCE,
            leeway=settings.JWT_LEEWAY_SECONDS,
        )
    missing = [scope for scope in security_scopes.scopes if scope not in principal.scopes]
    if missing:
        raise Forbidden(
            f"The token lacks the scope(s) {', '.join(missing)}; create a token that has them.",
            headers={"WWW-Authenticate": insufficient_scope_challenge(missing)},
        )
    request.state.principal = principal
    structlog.contextvars.bind_contextvars(
        principal=principal.subject, principal_kind=principal.kind
    )
    return principal


def insufficient_scope_challenge(missing: list[str]) -> str:
    return f'Bearer error="insufficient_scope", scope="{" ".join(missing)}"'


CurrentPrincipal = Annotated[Principal, Security(get_current_principal)]


def scoped(*scopes: str) -> Any:
    """``Annotated[Principal, scoped("runs:read")]``: the caller, holding these scopes."""
    return Security(get_current_principal, scopes=list(scopes))


def parse_project_header(value: str | None) -> uuid.UUID:
    if value is None or not value.strip():
        raise BadRequest("Name the project in the X-Project-ID header (a project UUID).")
    try:
        return uuid.UUID(value.strip())
    except ValueError as exc:
        raise BadRequest(f"X-Project-ID {value[:64]!r} is not a project UUID.") from exc


def project_role(minimum: ProjectRole):  # type: ignore[no-untyped-def]
    """Dependency giving the caller's access to the X-Project-ID project, at least ``minimum``."""

    async def require_project_role(
        request: Request,
        principal: Annotated[Principal, Security(get_current_principal)],
        x_project_id: Annotated[
            str | None,
            Header(alias="X-Project-ID", description="The project this call works in."),
        ] = None,
    ) -> ProjectAccess:
        project_id = parse_project_header(x_project_id)
        membership = await get_identity(request).project_membership(principal, project_id)
        if membership is None:
            raise NotFound(f"Project {project_id} does not exist or you cannot see it.")
        if not membership.role.allows(minimum):
            raise Forbidden(
                f"This needs the {minimum.value} role in the project; you are "
                f"{membership.role.value}. Ask a project admin."
            )
        structlog.contextvars.bind_contextvars(project=str(project_id))
        return ProjectAccess(
            principal=principal,
            project_id=project_id,
            org_id=membership.org_id,
            role=membership.role,
        )

    return require_project_role


ProjectViewer = Annotated[ProjectAccess, Security(project_role(ProjectRole.viewer))]
ProjectEditor = Annotated[ProjectAccess, Security(project_role(ProjectRole.editor))]
ProjectAdmin = Annotated[ProjectAccess, Security(project_role(ProjectRole.admin))]


async def require_service(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(service_scheme)],
) -> Principal:
    if credentials is None:
        raise Unauthorized("This endpoint is for nfhub services only.")
    service_tokens: ServiceTokens = request.app.state.service_tokens
    principal = service_tokens.verify(credentials.credentials)
    structlog.contextvars.bind_contextvars(principal=principal.subject, principal_kind="service")
    return principal


InternalService = Annotated[Principal, Depends(require_service)]
