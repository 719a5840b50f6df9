from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from nfhub_admin.models import PersonalAccessToken
from nfhub_admin.tokens.errors import ScopeEscalation, TokenNameTaken
from nfhub_admin.tokens.repository import TokenRepository
from nfhub_admin.tokens.schemas import TokenCreate, TokenCreated, TokenRead, TokensRevoked
from nfhub_shared.audit import AuditWriter
from nfhub_shared.auth.principal import Principal
from nfhub_shared.auth.scopes import scopes_allowed
from nfhub_shared.auth.tokens import PAT_PREFIX, hash_token, new_opaque_token
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.errors import NotFound
from nfhub_shared.schemas import read_model

# last_used_at is written at most this often per token: a busy script must not turn every
# request into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


class TokenService:
    def __init__(self, session: AsyncSession, audit: AuditWriter) -> None:
        self.session = session
        self.audit = audit
        self.tokens = TokenRepository(session)

    async def create_token(self, principal: Principal, token_create: TokenCreate) -> TokenCreated:
        scopes = (
            set(token_create.scopes) if token_create.scopes is not None else set(principal.scopes)
        )
        beyond = sorted(scopes - principal.scopes)
        if beyond:
            raise ScopeEscalation(
                f"A token cannot have scopes the caller lacks: {', '.join(beyond)}."
            )
        if await self.tokens.get_active_by_name(principal.user_id, token_create.name):
            raise TokenNameTaken(
                f"You already have an active token named {token_create.name!r}; pick another "
                "name or revoke that one."
            )
        secret = new_opaque_token(PAT_PREFIX)
        expires_at = (
            datetime.now(UTC) + timedelta(days=token_create.expires_in_days)
            if token_create.expires_in_days
            else None
        )
        token = await self.tokens.add(
            PersonalAccessToken(
                user_id=principal.user_id,
                name=token_create.name,
                token_hash=hash_token(secret),
                token_hint=secret[: len(PAT_PREFIX) + 4],
                scopes=sorted(scopes),
                expires_at=expires_at,
            )
        )
        await self.audit.record(
            self.session,
            actor=principal,
            action="token.create",
            resource_type="personal_access_token",
            resource_id=token.id,
            details={"name": token.name, "scopes": token.scopes},
        )
        return read_model(TokenCreated, token, token=secret)

    async def list_tokens(
        self, principal: Principal, *, include_revoked: bool, limit: int, offset: int
    ) -> tuple[list[TokenRead], int]:
        tokens, count = await self.tokens.list_for_user(
            principal.user_id, include_revoked=include_revoked, limit=limit, offset=offset
        )
        return [TokenRead.model_validate(token) for token in tokens], count

    async def revoke_token(self, principal: Principal, token_id: uuid.UUID) -> None:
        token = await self.tokens.get_for_user(principal.user_id, token_id)
        if token is None:
            raise NotFound(f"You have no token {token_id}.")
        if token.revoked_at is None:
            await self.tokens.update(token, {"revoked_at": datetime.now(UTC)})
            await self.audit.record(
                self.session,
                actor=principal,
                action="token.revoke",
                resource_type="personal_access_token",
                resource_id=token.id,
            )

    async def revoke_all(self, principal: Principal) -> TokensRevoked:
        count = await self.tokens.revoke_all(principal.user_id, datetime.now(UTC))
        await self.audit.record(
            self.session,
            actor=principal,
            action="token.revoke_all",
            resource_type="personal_access_token",
            details={"revoked": count},
        )
        return TokensRevoked(revoked=count)

    async def introspect(self, secret: str) -> Principal | None:
        """The principal behind a PAT, or None if it is unknown, expired, revoked or disabled."""
        now = datetime.now(UTC)
        found = await self.tokens.find_active_with_user(hash_token(secret), now)
        if found is None:
            return None
        token, user = found
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            await self.tokens.touch(token.id, now)
        return Principal(
            subject=str(user.id),
            kind="pat",
            # A token keeps the scopes it was made with only while its user may hold them (a
            # platform admin's token loses platform:admin with the flag).
            scopes=frozenset(token.scopes)
            & scopes_allowed(is_platform_admin=user.is_platform_admin),
            username=user.username,
            token_id=str(token.id),
        )
