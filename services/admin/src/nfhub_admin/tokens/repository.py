from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update

from nfhub_admin.models import PersonalAccessToken, User
from nfhub_shared.db.repository import Repository


class TokenRepository(Repository[PersonalAccessToken]):
    model = PersonalAccessToken

    async def get_for_user(
        self, user_id: uuid.UUID, token_id: uuid.UUID
    ) -> PersonalAccessToken | None:
        return await self.session.scalar(
            select(PersonalAccessToken).where(
                PersonalAccessToken.id == token_id, PersonalAccessToken.user_id == user_id
            )
        )

    async def get_active_by_name(self, user_id: uuid.UUID, name: str) -> PersonalAccessToken | None:
        return await self.session.scalar(
            select(PersonalAccessToken).where(
                PersonalAccessToken.user_id == user_id,
                PersonalAccessToken.name == name,
                PersonalAccessToken.revoked_at.is_(None),
            )
        )

    async def list_for_user(
        self, user_id: uuid.UUID, *, include_revoked: bool, limit: int, offset: int
    ) -> tuple[Sequence[PersonalAccessToken], int]:
        statement = select(PersonalAccessToken).where(PersonalAccessToken.user_id == user_id)
        if not include_revoked:
            statement = statement.where(PersonalAccessToken.revoked_at.is_(None))
        statement = statement.order_by(
            PersonalAccessToken.created_at.desc(), PersonalAccessToken.id
        )
        return await self.paginate(statement, limit=limit, offset=offset)

    async def revoke_all(self, user_id: uuid.UUID, now: datetime) -> int:
        result = await self.session.execute(
            update(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user_id, PersonalAccessToken.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
            .returning(PersonalAccessToken.id)
        )
        return len(result.all())

    async def find_active_with_user(
        self, token_hash: str, now: datetime
    ) -> tuple[PersonalAccessToken, User] | None:
        row = (
            await self.session.execute(
                select(PersonalAccessToken, User)
                .join(User, User.id == PersonalAccessToken.user_id)
                .where(
                    PersonalAccessToken.token_hash == token_hash,
                    PersonalAccessToken.revoked_at.is_(None),
                    User.is_active.is_(True),
                )
            )
        ).first()
        if row is None:
            return None
        token, user = row
        if token.expires_at is not None and token.expires_at <= now:
            return None
        return token, user

    async def touch(self, token_id: uuid.UUID, now: datetime) -> None:
        await self.session.execute(
            update(PersonalAccessToken)
            .where(PersonalAccessToken.id == token_id)
            .values(last_used_at=now)
        )
