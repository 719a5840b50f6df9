from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response

from nfhub_admin.auth.errors import InvalidCredentials, RefreshTokenReuse
from nfhub_admin.auth.oidc import OidcMetadataCache, OidcService
from nfhub_admin.auth.schemas import (
    LoginProvider,
    LoginProviders,
    LoginRequest,
    RefreshRequest,
    TokenPair,
)
from nfhub_admin.auth.service import AuthService, login_account
from nfhub_admin.state import AdminStateDep, SettingsDep, SigningKeysDep
from nfhub_shared.audit import AuditDep
from nfhub_shared.db.session import AsyncSessionDep
from nfhub_shared.errors import AppError, render_app_error
from nfhub_shared.ratelimit import FailureLimit
from nfhub_shared.state import ServiceState

router = APIRouter(prefix="/auth", tags=["auth"])
jwks_router = APIRouter(tags=["auth"])


async def get_oidc_metadata(state: AdminStateDep) -> OidcMetadataCache:
    return state.oidc_metadata


OidcMetadataDep = Annotated[OidcMetadataCache, Depends(get_oidc_metadata)]


async def get_auth_service(
    session: AsyncSessionDep, audit: AuditDep, settings: SettingsDep, keys: SigningKeysDep
) -> AuthService:
    return AuthService(session, audit, settings, keys)


async def get_oidc_service(
    session: AsyncSessionDep, settings: SettingsDep, metadata: OidcMetadataDep
) -> OidcService:
    return OidcService(session, settings, metadata)


AuthServiceDep = Annotated[AuthService, Depends(get_auth_service)]
OidcServiceDep = Annotated[OidcService, Depends(get_oidc_service)]


def failed_logins(request: Request) -> FailureLimit | None:
    """Failed logins per username, from any address (None with rate limits off)."""
    state = ServiceState.of(request.app)
    if not state.settings.RATE_LIMIT_ENABLED:
        return None
    limit = state.settings.RATE_LIMIT_LOGIN_FAILURES
    return FailureLimit(state.rate_limiter, "login_failed", limit, what="failed logins")


async def password_login(
    request: Request, auth: AuthService, username: str, password: str
) -> TokenPair | Response:
    failures = failed_logins(request)
    user = await auth.user_named(username)  # once: the account counts failures and logs in
    account = login_account(user, username)
    if failures is not None:
        await failures.check(account)
    try:
        return await auth.login_with_password(user, password)
    except InvalidCredentials as exc:
        if failures is not None:
            await failures.record(account)
        # Returned, not raised: the failed attempt's audit event must be committed.
        return render_app_error(request, exc)


WRONG_PASSWORD: dict[int | str, dict[str, Any]] = {
    401: {"description": "Wrong username or password, or a disabled account (problem+json)"}
}


@router.post("/login", response_model=TokenPair, responses=WRONG_PASSWORD)
async def login(
    login_request: LoginRequest, request: Request, auth: AuthServiceDep
) -> TokenPair | Response:
    """Log in with username (or email) and password; returns an access and a refresh token."""
    return await password_login(
        request, auth, login_request.username, login_request.password.get_secret_value()
    )


@router.post("/token", response_model=TokenPair, responses=WRONG_PASSWORD)
async def oauth2_token(
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1024)],
    request: Request,
    auth: AuthServiceDep,
    grant_type: Annotated[str, Form(pattern="^password$")] = "password",
) -> TokenPair | Response:
    """OAuth2 password grant (form-encoded), used by Swagger UI's Authorize dialog."""
    return await password_login(request, auth, username, password)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses={
        401: {
            "description": "The refresh token is unknown, expired, revoked or used twice (a "
            "reuse also ends the login it came from), or the account is disabled (problem+json)"
        }
    },
)
async def refresh(
    refresh_request: RefreshRequest, request: Request, auth: AuthServiceDep
) -> TokenPair | Response:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    try:
        return await auth.refresh(refresh_request.refresh_token.get_secret_value())
    except RefreshTokenReuse as exc:
        # Returned, not raised: the revocation of the stolen login must be committed.
        return render_app_error(request, exc)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(refresh_request: RefreshRequest, auth: AuthServiceDep) -> None:
    """Revoke the refresh token and every token rotated from the same login."""
    await auth.logout(refresh_request.refresh_token.get_secret_value())


@router.get("/providers", response_model=LoginProviders)
async def list_login_providers(settings: SettingsDep) -> LoginProviders:
    """How users can log in: password, and each configured OpenID provider."""
    providers = [
        LoginProvider(
            name="password",
            display_name="Username and password",
            kind="password",
            login_url="/api/v1/auth/login",
        )
    ]
    providers += [
        LoginProvider(
            name=provider.name,
            display_name=provider.display_name,
            kind="oidc",
            login_url=f"/api/v1/auth/oidc/{provider.name}/login",
        )
        for provider in settings.OIDC_PROVIDERS
    ]
    return LoginProviders(providers=providers)


@router.get(
    "/oidc/{provider}/login",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={302: {"description": "Redirect to the provider's login page"}},
)
async def oidc_login(
    provider: str,
    oidc: OidcServiceDep,
    redirect_to: Annotated[
        str | None,
        Query(max_length=2048, description="Path in the frontend to return to after login"),
    ] = None,
) -> RedirectResponse:
    """Start an OpenID Connect login (authorization code with PKCE)."""
    if redirect_to is not None and not redirect_to.startswith("/"):
        redirect_to = None  # only paths: an absolute URL here would be an open redirect
    url = await oidc.authorization_redirect(provider, redirect_to)
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)


@router.get(
    "/oidc/{provider}/callback",
    response_model=TokenPair,
    responses={
        302: {"description": "Redirect to the frontend with the tokens in the fragment"},
        400: {"description": "The login state is unknown, used or expired (problem+json)"},
        401: {"description": "The provider refused the login or its id_token (problem+json)"},
    },
)
async def oidc_callback(
    provider: str,
    request: Request,
    oidc: OidcServiceDep,
    auth: AuthServiceDep,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=512)] = None,
) -> TokenPair | Response:
    """The provider sends the browser back here; answers with tokens."""
    try:
        user, redirect_to = await oidc.complete_login(provider, code=code, state=state, error=error)
    except AppError as exc:
        # Returned, not raised: the login attempt this callback used up must stay used.
        return render_app_error(request, exc)
    pair = await auth.start_session(user, method=f"oidc:{provider}")
    if settings.FRONTEND_URL is None:
        return pair
    # The fragment never reaches a server, so the tokens stay out of access logs.
    fragment = urlencode(
        {
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "expires_in": pair.expires_in,
            "token_type": "bearer",
        }
    )
    target = str(settings.FRONTEND_URL).rstrip("/") + (redirect_to or "/")
    return RedirectResponse(f"{target}#{fragment}", status_code=status.HTTP_302_FOUND)


@jwks_router.get("/.well-known/jwks.json")
async def get_jwks(keys: SigningKeysDep) -> JSONResponse:
    """admin's public signing keys; services verify access tokens with them."""
    return JSONResponse(keys.jwks(), headers={"Cache-Control": "public, max-age=300"})
