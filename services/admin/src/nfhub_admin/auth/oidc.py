"""OpenID Connect login: authorization code + PKCE, state and nonce, id_token verified."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import structlog
from jwt import PyJWKSet

from nfhub_admin.auth.errors import InvalidLoginState, OidcLoginFailed, UnknownProvider
from nfhub_admin.auth.repository import OidcRepository
from nfhub_admin.config import OidcProviderSettings, Settings
from nfhub_admin.models import OidcIdentity, OidcLoginAttempt, User
from nfhub_admin.users.repository import UserRepository
from nfhub_admin.users.service import create_user_record
from nfhub_shared.auth.tokens import hash_token, secrets_match
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import ServiceUnavailable

logger = structlog.get_logger("nfhub.admin.oidc")

ID_TOKEN_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
DISCOVERY_TTL_SECONDS = 3600


class OidcMetadataCache:
    """Providers' discovery documents and key sets, fetched lazily and kept for an hour."""

    def __init__(self, client: httpx.AsyncClient, timeout_seconds: float) -> None:
        self.client = client
        self.timeout_seconds = timeout_seconds
        self._documents: dict[str, tuple[float, dict[str, Any]]] = {}

    async def document(self, provider: OidcProviderSettings) -> dict[str, Any]:
        cached = self._documents.get(provider.name)
        if cached and time.monotonic() - cached[0] < DISCOVERY_TTL_SECONDS:
            return cached[1]
        issuer = str(provider.issuer).rstrip("/")
        url = str(provider.discovery_url or f"{issuer}/.well-known/openid-configuration")
        document = await self._get_json(url, provider.name)
        self._documents[provider.name] = (time.monotonic(), document)
        return document

    async def key_set(self, provider: OidcProviderSettings) -> PyJWKSet:
        document = await self.document(provider)
        body = await self._get_json(str(document["jwks_uri"]), provider.name)
        try:
            return PyJWKSet.from_dict(body)
        except jwt.PyJWKSetError as exc:
            raise ServiceUnavailable(f"Provider {provider.name} published no usable keys.") from exc

    async def _get_json(self, url: str, name: str) -> dict[str, Any]:
        try:
            response = await self.client.get(url, timeout=self.timeout_seconds)
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("oidc provider unreachable", provider=name, error=type(exc).__name__)
            raise ServiceUnavailable(f"The login provider {name} is not reachable.") from exc
        if not isinstance(body, dict):
            raise ServiceUnavailable(f"The login provider {name} answered with no JSON object.")
        return body


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OidcService:
    def __init__(
        self, session: AsyncSession, settings: Settings, metadata: OidcMetadataCache
    ) -> None:
        self.session = session
        self.settings = settings
        self.metadata = metadata
        self.repository = OidcRepository(session)

    def provider(self, name: str) -> OidcProviderSettings:
        for provider in self.settings.OIDC_PROVIDERS:
            if provider.name == name:
                return provider
        raise UnknownProvider(f"No login provider named {name!r}; see GET /api/v1/auth/providers.")

    def callback_url(self, provider: OidcProviderSettings) -> str:
        return f"{self.settings.admin_public_url()}/api/v1/auth/oidc/{provider.name}/callback"

    async def authorization_redirect(self, name: str, redirect_to: str | None) -> str:
        provider = self.provider(name)
        document = await self.metadata.document(provider)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        code_verifier = secrets.token_urlsafe(64)[:96]
        now = datetime.now(UTC)
        await self.repository.purge_expired_attempts(now)
        await self.repository.add_attempt(
            OidcLoginAttempt(
                provider=provider.name,
                state_hash=hash_token(state),
                nonce=nonce,
                code_verifier=code_verifier,
                redirect_to=redirect_to,
                expires_at=now + timedelta(seconds=self.settings.OIDC_LOGIN_TTL_SECONDS),
            )
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": self.callback_url(provider),
                "scope": provider.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": _b64url(hashlib.sha256(code_verifier.encode()).digest()),
                "code_challenge_method": "S256",
            }
        )
        return f"{document['authorization_endpoint']}?{query}"

    async def complete_login(
        self, name: str, *, code: str | None, state: str | None, error: str | None
    ) -> tuple[User, str | None]:
        """Check state, exchange the code (with the PKCE verifier), verify the id_token."""
        provider = self.provider(name)
        if not state:
            raise InvalidLoginState("The callback carries no state; start the login again.")
        attempt = await self.repository.take_attempt(hash_token(state))
        now = datetime.now(UTC)
        if (
            attempt is None
            or attempt.provider != provider.name
            or attempt.consumed_at is not None
            or attempt.expires_at <= now
        ):
            raise InvalidLoginState(
                "The login state is unknown, used or expired; start the login again."
            )
        attempt.consumed_at = now
        await self.session.flush()
        if error:
            raise OidcLoginFailed(f"The provider refused the login: {error[:100]}.")
        if not code:
            raise InvalidLoginState("The callback carries no authorization code.")
        tokens = await self._exchange_code(provider, code, attempt.code_verifier)
        claims = await self._verify_id_token(provider, tokens.get("id_token"), attempt.nonce)
        user = await self._user_for(provider, claims)
        return user, attempt.redirect_to

    async def _exchange_code(
        self, provider: OidcProviderSettings, code: str, code_verifier: str
    ) -> dict[str, Any]:
        document = await self.metadata.document(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url(provider),
            "client_id": provider.client_id,
            "code_verifier": code_verifier,
        }
        auth: httpx.BasicAuth | None = (
            httpx.BasicAuth(provider.client_id, provider.client_secret.get_secret_value())
            if provider.client_secret
            else None
        )
        try:
            response = await self.metadata.client.post(
                str(document["token_endpoint"]),
                data=form,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                timeout=self.settings.OIDC_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"The login provider {provider.name} is not reachable."
            ) from exc
        if response.status_code != 200:
            logger.info(
                "oidc code exchange refused", provider=provider.name, status=response.status_code
            )
            raise OidcLoginFailed("The provider refused the authorization code.")
        body = response.json()
        if not isinstance(body, dict):
            raise OidcLoginFailed("The provider's token response is not a JSON object.")
        return body

    async def _verify_id_token(
        self, provider: OidcProviderSettings, id_token: object, nonce: str
    ) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise OidcLoginFailed("The provider returned no id_token.")
        key_set = await self.metadata.key_set(provider)
        try:
            header = jwt.get_unverified_header(id_token)
            key = next(
                (k for k in key_set.keys if k.key_id == header.get("kid")),
                key_set.keys[0] if len(key_set.keys) == 1 else None,
            )
            if key is None:
                raise OidcLoginFailed(
                    "The id_token was signed with a key the provider does not list."
                )
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key,
                algorithms=ID_TOKEN_ALGORITHMS,
                audience=provider.client_id,
                issuer=str(provider.issuer).rstrip("/"),
                leeway=self.settings.JWT_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.InvalidTokenError as exc:
            raise OidcLoginFailed("The provider's id_token is not valid.") from exc
        if not secrets_match(nonce, str(claims.get("nonce", ""))):
            raise OidcLoginFailed("The id_token's nonce does not match this login.")
        return claims

    async def _user_for(self, provider: OidcProviderSettings, claims: dict[str, Any]) -> User:
        subject = str(claims["sub"])
        users = UserRepository(self.session)
        identity = await self.repository.get_identity(provider.name, subject)
        if identity is not None:
            user = await users.get(identity.user_id)
            if user is None or not user.is_active:
                raise OidcLoginFailed("This account is disabled.")
            return user
        email = claims.get("email") if isinstance(claims.get("email"), str) else None
        user = None
        # Link to an existing account only on an address the provider vouches for.
        if email and claims.get("email_verified") is True:
            user = await users.get_by_email(email)
        if user is None:
            if not self.settings.OIDC_CREATE_USERS:
                raise OidcLoginFailed(
                    "No nfhub account is linked to this identity; ask an admin to create one."
                )
            user = await create_user_record(
                self.session,
                username=await self._free_username(claims, subject),
                email=email if email and await users.get_by_email(email) is None else None,
                display_name=claims.get("name") if isinstance(claims.get("name"), str) else None,
                password=None,
            )
        await self.repository.add_identity(
            OidcIdentity(user_id=user.id, provider=provider.name, subject=subject, email=email)
        )
        return user

    async def _free_username(self, claims: dict[str, Any], subject: str) -> str:
        raw = str(claims.get("preferred_username") or claims.get("email") or subject)
        base = re.sub(r"[^a-z0-9._-]", "-", raw.split("@")[0].lower()).strip("-._")[:48] or "user"
        if not base[0].isalnum():
            base = "u" + base
        users = UserRepository(self.session)
        candidate = base if len(base) >= 2 else f"{base}-user"
        while await users.get_by_username(candidate) is not None:
            candidate = f"{base}-{secrets.token_hex(3)}"
        return candidate
