from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nfhub_admin.models import OidcIdentity, OidcLoginAttempt, RefreshToken, User
from nfhub_shared.db.repository import Repository


class RefreshTokenRepository(Repository[RefreshToken]):
    model = RefreshToken

    async def get_by_hash_for_update(self, token_hash: str) -> RefreshToken | None:
        return await self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
        )

    async def family_active(self, family_id: uuid.UUID) -> bool:
        """A login is live while its user is active and its family holds a token not revoked
        (logout and the reuse of a used refresh token revoke the whole family)."""
        found = await self.session.scalar(
            select(RefreshToken.id)
            .join(User, User.id == RefreshToken.user_id)
            .where(
                RefreshToken.family_id == family_id,
                RefreshToken.revoked_at.is_(None),
                User.is_active.is_(True),
            )
            .limit(1)
        )
        return found is not None

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
        )


class OidcRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_attempt(self, attempt: OidcLoginAttempt) -> None:
        self.session.add(attempt)
        await self.session.flush()

    async def take_attempt(self, state_hash: str) -> OidcLoginAttempt | None:
        return await self.session.scalar(
            select(OidcLoginAttempt)
            .where(OidcLoginAttempt.state_hash == state_hash)
            .with_for_update()
        )

    async def purge_expired_attempts(self, now: datetime) -> None:
        await self.session.execute(
            delete(OidcLoginAttempt).where(OidcLoginAttempt.expires_at < now)
        )

    async def get_identity(self, provider: str, subject: str) -> OidcIdentity | None:
        return await self.session.scalar(
            select(OidcIdentity).where(
                OidcIdentity.provider == provider, OidcIdentity.subject == subject
            )
        )

    async def add_identity(self, identity: OidcIdentity) -> None:
        self.session.add(identity)
        await self.session.flush()
