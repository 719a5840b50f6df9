from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update

from nfhub_admin.models import User
from nfhub_shared.db.repository import Repository


class UserRepository(Repository[User]):
    model = User

    async def get_by_username(self, username: str) -> User | None:
        return await self.session.scalar(select(User).where(User.username == username.lower()))

    async def get_by_email(self, email: str) -> User | None:
        return await self.session.scalar(select(User).where(User.email == email.lower()))

    async def count(self) -> int:
        return (await self.session.execute(select(func.count()).select_from(User))).scalar_one()

    async def list_platform_admins(self) -> Sequence[User]:
        return (await self.session.scalars(select(User).where(User.is_platform_admin))).all()

    async def grant_platform_admin(self, usernames: Sequence[str]) -> list[str]:
        """Flag these users (those that exist and are not yet flagged); returns who changed.

        No UPDATE when nobody changes: the users table announces access changes per statement
        (migration 0002), and every service would drop its caches at each admin start."""
        if not usernames:
            return []
        pending = list(
            await self.session.scalars(
                select(User.id).where(
                    User.username.in_([name.lower() for name in usernames]),
                    User.is_platform_admin.is_(False),
                )
            )
        )
        if not pending:
            return []
        changed = await self.session.scalars(
            update(User)
            .where(User.id.in_(pending), User.is_platform_admin.is_(False))
            .values(is_platform_admin=True)
            .returning(User.username)
        )
        return sorted(changed)
