"""FastAPI dependencies: who is calling, with which scopes, and with which role in the project.

Each is one ``HTTPBearer`` subclass doing all its work in ``__call__``: FastAPI documents it as
the ``BearerToken`` scheme with the route's scopes, and resolving one dependency node instead of
a chain keeps authentication cheap (see bench/auth.py). The app factory adds an OAuth2 password
alternative with the same scopes to the OpenAPI document, for Swagger's Authorize dialog.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer, SecurityScopes
from starlette.types import Scope

from nfhub_shared.auth.identity import Membership
from nfhub_shared.auth.principal import Principal, ProjectAccess, ProjectRole
from nfhub_shared.auth.tokens import (
    PAT_PREFIX,
    REFRESH_PREFIX,
    principal_from_jwt,
)
from nfhub_shared.errors import BadRequest, Forbidden, NotFound, Unauthorized
from nfhub_shared.logging import bind_request_fields
from nfhub_shared.state import ServiceState

BEARER_SCHEME = "BearerToken"
BEARER_DESCRIPTION = (
    "An access token from `POST /api/v1/auth/login` or a personal access token (`nfh_pat_…`)."
)


MISSING_BEARER = (
    "Send 'Authorization: Bearer <token>' with an access token or a personal access token."
)


def token_from_authorization(authorization: str | None) -> str:
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if token and scheme.lower() == "bearer":
            return token
    raise Unauthorized(MISSING_BEARER)


def bearer_token(request: Request) -> str:
    return token_from_authorization(request.headers.get("authorization"))


CHECKED_ACCESS_ENTRIES = 4096

# Where the edge middleware leaves (Authorization, X-Project-ID) from its pass over the headers.
AUTH_HEADERS_SCOPE_KEY = "nfhub.auth_headers"


def _auth_headers(scope: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """Authorization and X-Project-ID (the first of each): as the edge middleware read them,
    or in one pass over the raw headers, without building Starlette's Headers."""
    known: tuple[str | None, str | None] | None = scope.get(AUTH_HEADERS_SCOPE_KEY)
    if known is not None:
        return known
    authorization = project = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"x-project-id" and project is None:
            project = value.decode("latin-1")
    return authorization, project


# Where the edge middleware leaves what it learnt authenticating the bearer for the rate
# limiter: the Principal, or the exception that refused it (raised again by the route's own
# authentication, inside the error handlers). Each request authenticates once.
PRINCIPAL_SCOPE_KEY = "nfhub.principal"


async def edge_principal(scope: Scope, authorization: str) -> Principal | None:
    """Who the bearer is, for the rate limiter: a user, a PAT or a service, or None for
    anything that does not authenticate. Never raises."""
    state = ServiceState.of(scope["app"])
    try:
        principal = await _principal(authorization, state)
    except Exception as exc:  # kept on the scope, raised by the route
        scope[PRINCIPAL_SCOPE_KEY] = exc
        if isinstance(exc, Unauthorized):
            return _service_principal(state, authorization)
        return None
    scope[PRINCIPAL_SCOPE_KEY] = principal
    return principal


def _service_principal(state: ServiceState, authorization: str) -> Principal | None:
    try:
        return state.service_tokens.verify(token_from_authorization(authorization))
    except Unauthorized:
        return None


async def _request_principal(
    scope: Scope, authorization: str | None, state: ServiceState
) -> Principal:
    known = scope.get(PRINCIPAL_SCOPE_KEY)
    if known is None:
        return await _principal(authorization, state)
    if isinstance(known, BaseException):
        raise known
    principal: Principal = known
    return principal


def insufficient_scope_challenge(missing: list[str]) -> str:
    return f'Bearer error="insufficient_scope", scope="{" ".join(missing)}"'


async def _principal(authorization: str | None, state: ServiceState) -> Principal:
    token = token_from_authorization(authorization)
    if token.startswith(REFRESH_PREFIX):
        raise Unauthorized(
            "A refresh token is not an access token; exchange it at POST /api/v1/auth/refresh."
        )
    if token.startswith(PAT_PREFIX):
        principal = await state.identity.resolve_pat(token)
        if principal is None:
            raise Unauthorized("The personal access token is unknown, expired or revoked.")
        return principal
    verified_tokens = state.verified_tokens
    principal = verified_tokens.get(token)
    if principal is None:
        settings = state.settings
        principal = await principal_from_jwt(
            token,
            state.identity.signing_key,
            issuer=settings.JWT_ISSUER,
            audience=settings.JWT_AUDIENCE,
            leeway=settings.JWT_LEEWAY_SECONDS,
            cache=verified_tokens,
        )
    # A signature stays valid after logout: the login it names must still be live.
    if principal.session_id is not None and not await state.identity.session_active(
        principal.session_id
    ):
        raise Unauthorized("The login this access token belongs to has ended; log in again.")
    return principal


async def principal_from_token(token: str, state: ServiceState) -> Principal:
    """Who a token (access token or PAT) names, 401 when none: for the few routes whose
    client sends its token otherwise than as ``Authorization: Bearer``."""
    return await _principal(f"Bearer {token}", state)


def _require_scopes(principal: Principal, required_scopes: Sequence[str]) -> None:
    missing = [scope for scope in required_scopes if scope not in principal.scopes]
    if missing:
        raise Forbidden(
            f"The token lacks the scope(s) {', '.join(missing)}; create a token that has them.",
            headers={"WWW-Authenticate": insufficient_scope_challenge(missing)},
        )


async def authenticate(request: Request, required_scopes: Sequence[str]) -> Principal:
    scope = request.scope
    authorization, _ = _auth_headers(scope)
    principal = await _request_principal(scope, authorization, ServiceState.of(scope["app"]))
    _require_scopes(principal, required_scopes)
    bind_request_fields(principal=principal.subject, principal_kind=principal.kind)
    return principal


class RequestAuth(HTTPBearer):
    """A bearer-token dependency that needs only the request and the route's scopes.

    API routes call ``authenticate_request`` directly, ahead of FastAPI's dependency
    machinery (``nfhub_shared.routing.AuthFirstRoute``); ``__call__`` is what FastAPI uses
    elsewhere, with the same result.
    """

    async def authenticate_request(self, request: Request, scopes: Sequence[str]) -> Any:
        raise NotImplementedError


class PrincipalAuth(RequestAuth):
    """The caller, authenticated, holding the route's scopes."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False, scheme_name=BEARER_SCHEME, description=BEARER_DESCRIPTION
        )

    async def __call__(  # type: ignore[override]
        self, request: Request, security_scopes: SecurityScopes
    ) -> Principal:
        return await authenticate(request, security_scopes.scopes)

    async def authenticate_request(self, request: Request, scopes: Sequence[str]) -> Principal:
        return await authenticate(request, scopes)


PROJECT_HEADER = "X-Project-ID"


def parse_project_header(value: str | None) -> tuple[uuid.UUID, str]:
    """The project id and its canonical text (for the log lines)."""
    if value is None or not value.strip():
        raise BadRequest("Name the project in the X-Project-ID header (a project UUID).")
    return _parse_project_id(value)


# A client sends the same few project ids on every request, and parsing a UUID costs more
# than the rest of the role check. Only valid ids are kept (a refusal raises, uncached).
@functools.lru_cache(maxsize=4096)
def _parse_project_id(value: str) -> tuple[uuid.UUID, str]:
    try:
        project_id = uuid.UUID(value.strip())
    except ValueError as exc:
        raise BadRequest(f"X-Project-ID {value[:64]!r} is not a project UUID.") from exc
    return project_id, str(project_id)


class ProjectNotFound(NotFound):
    """A project that does not exist or that the caller cannot see: one answer for both."""


class ProjectAccessCheck:
    """The caller's access to a project with at least ``minimum`` role: 404 for a project
    they cannot see (whether it exists or not), 403 for too low a role.

    What ``ProjectRoleAuth`` runs for the X-Project-ID project, and what routes that learn
    their project otherwise (WES: from tags.project or from the run) run for theirs. The role
    comes from the identity's cache, which admin's announcements empty on every change of
    access, so an access is never older than the membership it was made from.
    """

    def __init__(self, minimum: ProjectRole) -> None:
        self.minimum = minimum
        # (principal, membership, project) → the access already checked for them. Principal
        # and membership come from the caches on every request; the same two objects make the
        # same access, so it is not rebuilt and re-checked each time. They are keyed by
        # identity: the entry keeps both alive, so no other object can take their ids.
        self._checked: dict[tuple[int, int, int], tuple[Principal, Membership, ProjectAccess]] = {}

    async def __call__(
        self, state: ServiceState, principal: Principal, project_id: uuid.UUID
    ) -> ProjectAccess:
        membership = await state.identity.project_membership(principal, project_id)
        if membership is None:
            raise ProjectNotFound(f"Project {project_id} does not exist or you cannot see it.")
        checked = self._checked.get((id(principal), id(membership), project_id.int))
        if checked is not None:
            return checked[2]
        return self._check(principal, membership, project_id)

    def _check(
        self, principal: Principal, membership: Membership, project_id: uuid.UUID
    ) -> ProjectAccess:
        if not membership.role.allows(self.minimum):
            raise Forbidden(
                f"This needs the {self.minimum.value} role in the project; you are "
                f"{membership.role.value}. Ask a project admin."
            )
        access = ProjectAccess(
            principal=principal,
            project_id=project_id,
            org_id=membership.org_id,
            role=membership.role,
            org_role=membership.org_role,
        )
        if len(self._checked) >= CHECKED_ACCESS_ENTRIES:
            self._checked.clear()
        key = (id(principal), id(membership), project_id.int)
        self._checked[key] = (principal, membership, access)
        return access


class ProjectRoleAuth(RequestAuth):
    """The caller's access to the X-Project-ID project, with at least ``minimum`` role and
    the ``scopes`` (those of the ``Security`` declaration, see ``project_role``).

    The header is read from the request, not declared as a ``Header`` parameter, and the
    scopes are the instance's rather than a ``SecurityScopes`` parameter: FastAPI's
    per-request parameter machinery would cost more than all the rest of authentication
    (bench/auth.py). The app factory documents the header for every route using this.

    ``build`` turns the access into what the endpoint works with (a service object for the
    project): one dependency instead of a chain of two, each of which FastAPI would solve.
    """

    def __init__(
        self,
        minimum: ProjectRole,
        scopes: Sequence[str] = (),
        build: Callable[[Request, ProjectAccess], Any] | None = None,
    ) -> None:
        super().__init__(
            auto_error=False, scheme_name=BEARER_SCHEME, description=BEARER_DESCRIPTION
        )
        self.minimum = minimum
        self.scopes = tuple(scopes)
        self.build = build
        self.check = ProjectAccessCheck(minimum)

    async def __call__(self, request: Request) -> Any:  # type: ignore[override]
        return await self.authenticate_request(request, self.scopes)

    async def authenticate_request(self, request: Request, scopes: Sequence[str]) -> Any:
        """``scopes`` are this dependency's own (the route passes them back)."""
        scope = request.scope
        state = ServiceState.of(scope["app"])
        authorization, project_header = _auth_headers(scope)
        principal = await _request_principal(scope, authorization, state)
        if scopes:
            _require_scopes(principal, scopes)
        project_id, project_text = parse_project_header(project_header)
        access = await self.check(state, principal, project_id)
        bind_request_fields(
            principal=principal.subject, principal_kind=principal.kind, project=project_text
        )
        return access if self.build is None else self.build(request, access)


get_current_principal = PrincipalAuth()
CurrentPrincipal = Annotated[Principal, Security(get_current_principal)]


def scoped(*scopes: str) -> Any:
    """``Annotated[Principal, scoped("runs:read")]``: the caller, holding these scopes."""
    return Security(get_current_principal, scopes=list(scopes))


def project_role(
    minimum: ProjectRole,
    *scopes: str,
    build: Callable[[Request, ProjectAccess], Any] | None = None,
) -> Any:
    """``Annotated[ProjectAccess, project_role(ProjectRole.editor, "runs:write")]``; with
    ``build``, ``Annotated[T, ...]`` where ``build(request, access)`` makes the T."""
    return Security(ProjectRoleAuth(minimum, scopes, build), scopes=list(scopes))


ProjectViewer = Annotated[ProjectAccess, project_role(ProjectRole.viewer)]
ProjectEditor = Annotated[ProjectAccess, project_role(ProjectRole.editor)]
ProjectAdmin = Annotated[ProjectAccess, project_role(ProjectRole.admin)]


class ServiceAuth(RequestAuth):
    """Another nfhub service, proven by a service token (internal endpoints only)."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False,
            scheme_name="ServiceToken",
            description="Service-to-service token (internal endpoints only).",
        )

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        return await self.authenticate_request(request, ())

    async def authenticate_request(self, request: Request, scopes: Sequence[str]) -> Principal:
        token = bearer_token(request)
        principal = ServiceState.of(request.app).service_tokens.verify(token)
        bind_request_fields(principal=principal.subject, principal_kind="service")
        return principal


require_service = ServiceAuth()
InternalService = Annotated[Principal, Depends(require_service)]
