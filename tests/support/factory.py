"""Small async factories for the things every test needs: users, orgs, projects, tokens.

They write admin's tables and use admin's own code, so they live with the tests, not in
nfhub_shared (the shared library imports no service).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_admin.auth.service import issue_access_token
from nfhub_admin.models import Org, OrgMembership, Project, ProjectMembership, User
from nfhub_admin.tokens.schemas import TokenCreate
from nfhub_admin.tokens.service import TokenService
from nfhub_shared.auth.principal import Principal
from nfhub_shared.auth.scopes import scopes_allowed
from support.passwords import CHEAP


@dataclass(frozen=True)
class Actor:
    """A user with a ready access token."""

    id: uuid.UUID
    username: str
    password: str
    token: str
    scopes: frozenset[str] = field(default_factory=frozenset)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def in_project(self, project_id: uuid.UUID) -> dict[str, str]:
        return {**self.headers, "X-Project-ID": str(project_id)}


class Factory:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], admin_app: FastAPI) -> None:
        self.sessionmaker = sessionmaker
        self.admin_app = admin_app

    async def user(
        self,
        username: str | None = None,
        *,
        password: str | None = None,
        scopes: frozenset[str] | None = None,
        email: str | None = None,
        platform_admin: bool = False,
    ) -> Actor:
        username = username or f"user-{secrets.token_hex(4)}"
        password = password or secrets.token_urlsafe(16)
        scopes = scopes_allowed(is_platform_admin=platform_admin) if scopes is None else scopes
        async with self.sessionmaker() as session, session.begin():
            user = self._new_user(username, password, email, platform_admin)
            session.add(user)
            await session.flush()
        return self._actor(user, password, scopes)

    async def users(self, count: int) -> list[Actor]:
        """``count`` users as ``user()`` makes them by default, in one transaction."""
        passwords = [secrets.token_urlsafe(16) for _ in range(count)]
        users = [
            self._new_user(f"user-{secrets.token_hex(4)}", password, None, False)
            for password in passwords
        ]
        async with self.sessionmaker() as session, session.begin():
            session.add_all(users)
            await session.flush()
        scopes = scopes_allowed(is_platform_admin=False)
        pairs = zip(users, passwords, strict=True)
        return [self._actor(user, password, scopes) for user, password in pairs]

    @staticmethod
    def _new_user(username: str, password: str, email: str | None, platform_admin: bool) -> User:
        return User(
            username=username,
            email=email,
            display_name=username.title(),
            is_platform_admin=platform_admin,
            # The cheapest argon2id parameters (support.passwords, admin's in the tests):
            # verification reads them from the hash, so login works as usual.
            password_hash=CHEAP.hash(password),
        )

    def _actor(self, user: User, password: str, scopes: frozenset[str]) -> Actor:
        token = issue_access_token(
            self.admin_app.state.signing_keys,
            self.admin_app.state.settings,
            user,
            " ".join(sorted(scopes)),
        )
        return Actor(user.id, user.username, password, token, frozenset(scopes))

    async def org(
        self, owner: Actor, *, slug: str | None = None, members: dict[Actor, str] | None = None
    ) -> uuid.UUID:
        slug = slug or f"org-{secrets.token_hex(4)}"
        async with self.sessionmaker() as session, session.begin():
            org = Org(slug=slug, name=slug.title())
            session.add(org)
            await session.flush()
            session.add(OrgMembership(org_id=org.id, user_id=owner.id, role="owner"))
            for actor, role in (members or {}).items():
                session.add(OrgMembership(org_id=org.id, user_id=actor.id, role=role))
            await session.flush()
        return org.id

    async def join_org(self, org_id: uuid.UUID, actor: Actor, role: str = "member") -> None:
        async with self.sessionmaker() as session, session.begin():
            session.add(OrgMembership(org_id=org_id, user_id=actor.id, role=role))

    async def project(
        self,
        org_id: uuid.UUID,
        *,
        slug: str | None = None,
        members: dict[Actor, str] | None = None,
    ) -> uuid.UUID:
        """A project; members join the org as plain members first if they are not in it."""
        slug = slug or f"project-{secrets.token_hex(4)}"
        async with self.sessionmaker() as session, session.begin():
            project = Project(org_id=org_id, slug=slug, name=slug.title())
            session.add(project)
            await session.flush()
            members = members or {}
            in_org = set(
                await session.scalars(
                    select(OrgMembership.user_id).where(
                        OrgMembership.org_id == org_id,
                        OrgMembership.user_id.in_([actor.id for actor in members]),
                    )
                )
                if members
                else ()
            )
            for actor, role in members.items():
                if actor.id not in in_org:
                    session.add(OrgMembership(org_id=org_id, user_id=actor.id, role="member"))
                session.add(ProjectMembership(project_id=project.id, user_id=actor.id, role=role))
            await session.flush()
        return project.id

    async def personal_access_token(
        self,
        actor: Actor,
        *,
        name: str | None = None,
        scopes: list[str] | None = None,
        **extra: Any,
    ) -> tuple[uuid.UUID, str]:
        """A PAT through admin's own service code; returns (token id, secret)."""
        principal = Principal(
            subject=str(actor.id), kind="user", scopes=actor.scopes, username=actor.username
        )
        async with self.sessionmaker() as session, session.begin():
            created = await TokenService(session, self.admin_app.state.audit_writer).create_token(
                principal,
                TokenCreate(name=name or f"token-{secrets.token_hex(3)}", scopes=scopes, **extra),
            )
        return created.id, created.token
