"""Password login, access/refresh token issuing and rotation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt

from nfhub_admin.auth.errors import InvalidCredentials, InvalidRefreshToken, RefreshTokenReuse
from nfhub_admin.auth.repository import RefreshTokenRepository
from nfhub_admin.auth.schemas import TokenPair
from nfhub_admin.config import Settings
from nfhub_admin.keys import SigningKeys
from nfhub_admin.models import RefreshToken, User
from nfhub_admin.users.passwords import verify_password
from nfhub_admin.users.repository import UserRepository
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import Principal
from nfhub_shared.auth.scopes import scopes_allowed
from nfhub_shared.auth.tokens import REFRESH_PREFIX, hash_token, new_opaque_token
from nfhub_shared.db.session import AsyncSession


class AuthService:
    def __init__(
        self, session: AsyncSession, audit: AuditWriter, settings: Settings, keys: SigningKeys
    ) -> None:
        self.session = session
        self.audit = audit
        self.settings = settings
        self.keys = keys
        self.users = UserRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    async def user_named(self, username: str) -> User | None:
        """The account a login names, by username or email (None when none answers)."""
        identifier = username.strip().lower()
        if "@" in identifier:
            return await self.users.get_by_email(identifier)
        return await self.users.get_by_username(identifier)

    async def login_with_password(self, user: User | None, password: str) -> TokenPair:
        """Log ``user`` (as ``user_named`` found it) in; a wrong password, no account and a
        disabled one fail alike, and are audited."""
        valid = await verify_password(user.password_hash if user else None, password)
        if user is None or not valid or not user.is_active:
            await self.audit.record(
                self.session,
                actor=None,
                action="auth.login_failed",
                resource_type="user",
                resource_id=user.id if user else None,
                details={"method": "password"},
            )
            raise InvalidCredentials("Wrong username or password.")
        return await self.start_session(user, method="password")

    async def start_session(self, user: User, *, method: str) -> TokenPair:
        """Issue a first token pair (a new refresh-token family) for a user who just logged in."""
        await self.users.update(user, {"last_login_at": datetime.now(UTC)})
        pair = await self._issue_pair(user, family_id=uuid.uuid4())
        await self.audit.record(
            self.session,
            actor=_user_principal(user),
            action="auth.login",
            resource_type="user",
            resource_id=user.id,
            details={"method": method},
        )
        return pair

    async def refresh(self, refresh_token: str) -> TokenPair:
        now = datetime.now(UTC)
        stored = await self.refresh_tokens.get_by_hash_for_update(hash_token(refresh_token))
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise InvalidRefreshToken("The refresh token is unknown, expired or revoked; log in.")
        if stored.used_at is not None:
            # A rotated token came back: someone holds a copy. End the whole login.
            await self.refresh_tokens.revoke_family(stored.family_id, now)
            await self.audit.record(
                self.session,
                actor=None,
                action="auth.refresh_reuse",
                resource_type="user",
                resource_id=stored.user_id,
            )
            raise RefreshTokenReuse(
                "This refresh token was already used; the login it belonged to is now revoked. "
                "Log in again."
            )
        user = await self.users.get(stored.user_id)
        if user is None or not user.is_active:
            raise InvalidRefreshToken("The account is disabled.")
        await self.refresh_tokens.update(stored, {"used_at": now})
        return await self._issue_pair(user, family_id=stored.family_id)

    async def logout(self, refresh_token: str) -> None:
        stored = await self.refresh_tokens.get_by_hash_for_update(hash_token(refresh_token))
        if stored is None:
            return
        await self.refresh_tokens.revoke_family(stored.family_id, datetime.now(UTC))
        await self.audit.record(
            self.session,
            actor=None,
            action="auth.logout",
            resource_type="user",
            resource_id=stored.user_id,
        )

    async def _issue_pair(self, user: User, *, family_id: uuid.UUID) -> TokenPair:
        secret = new_opaque_token(REFRESH_PREFIX)
        refresh_ttl = self.settings.REFRESH_TOKEN_TTL_SECONDS
        await self.refresh_tokens.add(
            RefreshToken(
                user_id=user.id,
                family_id=family_id,
                token_hash=hash_token(secret),
                expires_at=datetime.now(UTC) + timedelta(seconds=refresh_ttl),
            )
        )
        scope = " ".join(sorted(scopes_allowed(is_platform_admin=user.is_platform_admin)))
        return TokenPair(
            access_token=issue_access_token(
                self.keys, self.settings, user, scope, session_id=family_id
            ),
            expires_in=self.settings.ACCESS_TOKEN_TTL_SECONDS,
            refresh_token=secret,
            refresh_expires_in=refresh_ttl,
            scope=scope,
        )


def issue_access_token(
    keys: SigningKeys,
    settings: Settings,
    user: User,
    scope: str,
    *,
    session_id: uuid.UUID | None = None,
) -> str:
    """An at+jwt access token. ``session_id`` (the ``sid`` claim) names the login it belongs
    to, its refresh-token family: every service refuses the token once that login ends."""
    now = datetime.now(UTC)
    claims = {
        "iss": settings.JWT_ISSUER,
        "aud": settings.JWT_AUDIENCE,
        "sub": str(user.id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=settings.ACCESS_TOKEN_TTL_SECONDS),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "scope": scope,
        "preferred_username": user.username,
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(
        claims, keys.private_key, algorithm="EdDSA", headers={"kid": keys.kid, "typ": "at+jwt"}
    )


def _user_principal(user: User) -> Principal:
    return Principal(subject=str(user.id), kind="user", username=user.username)


def login_account(user: User | None, username: str) -> str:
    """Whom a login names, for counting its failures: the account when one answers to the
    username or email (both spellings share one budget), else the name as typed."""
    return f"user:{user.id}" if user else f"name:{username.strip().lower()}"
