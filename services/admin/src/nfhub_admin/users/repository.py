from __future__ import annotations

from sqlalchemy import func, select

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
