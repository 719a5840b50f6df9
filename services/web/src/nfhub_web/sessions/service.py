"""Logins held server-side: the browser gets a random secret, web keeps the user's tokens
(sealed), refreshes the access token for them, and revokes the login on logout."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from nfhub_shared.db.base import utcnow
from nfhub_shared.db.session import AsyncSession
from nfhub_shared.sealing import KeyRing, Unsealable
from nfhub_web.apis import ApiProblem, Apis
from nfhub_web.models import WebSession
from nfhub_web.schemas import DefaultContext, Me, Org, Project, TokenPair
from nfhub_web.sessions.repository import SessionRepository

logger = structlog.get_logger("nfhub.web.sessions")

# last_seen_at is written at most this often: not one UPDATE per page view.
SEEN_RESOLUTION = timedelta(seconds=60)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ActiveSession:
    """A resolved session: who, their current access token, and what the pages need."""

    id: uuid.UUID
    user_id: uuid.UUID
    username: str
    display_name: str | None
    access_token: str
    csrf_token: str
    org_id: uuid.UUID | None
    org_name: str | None
    project_id: uuid.UUID | None
    project_name: str | None


@dataclass(frozen=True)
class SessionSettings:
    idle: timedelta
    refresh_margin: timedelta


class SessionService:
    def __init__(
        self,
        db: AsyncSession,
        keys: KeyRing,
        apis: Apis,
        settings: SessionSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.repository = SessionRepository(db)
        self.keys = keys
        self.apis = apis
        self.settings = settings
        self.clock = clock

    # -- sealing ---------------------------------------------------------------------------

    def _seal(self, row: WebSession, kind: str, token: str) -> str:
        return self.keys.seal(token, f"web-session:{row.id}:{kind}".encode())

    def _open(self, row: WebSession, kind: str, sealed: str) -> str:
        return self.keys.open(sealed, f"web-session:{row.id}:{kind}".encode())

    def _store_pair(self, row: WebSession, pair: TokenPair, now: datetime) -> None:
        row.access_token_sealed = self._seal(row, "access", pair.access_token)
        row.access_expires_at = now + timedelta(seconds=pair.expires_in)
        row.refresh_token_sealed = self._seal(row, "refresh", pair.refresh_token)
        row.refresh_expires_at = now + timedelta(seconds=pair.refresh_expires_in)

    def _active(self, row: WebSession) -> ActiveSession:
        return ActiveSession(
            id=row.id,
            user_id=row.user_id,
            username=row.username,
            display_name=row.display_name,
            access_token=self._open(row, "access", row.access_token_sealed),
            csrf_token=row.csrf_token,
            org_id=row.org_id,
            org_name=row.org_name,
            project_id=row.project_id,
            project_name=row.project_name,
        )

    # -- the session's life ----------------------------------------------------------------

    async def log_in(self, username: str, password: str) -> tuple[str, ActiveSession]:
        """Log in at admin; the new session's secret (for the cookie) and the session.

        Raises the ApiProblem admin answered (401 for a wrong password, 429 past the limit).
        """
        pair = await self.apis.read(
            TokenPair,
            "admin",
            "/auth/login",
            method="POST",
            json={"username": username, "password": password},
        )
        return await self._start(pair)

    async def log_in_with_handed_tokens(self, refresh_token: str) -> tuple[str, ActiveSession]:
        """Adopt a login admin handed to the browser (OpenID Connect: admin's callback puts the
        pair in the URL fragment of web's page, whose script posts it here).

        The pair is exchanged at once: the refresh token the browser saw stops working, and
        the session holds tokens that never left this process. Raises admin's ApiProblem
        (401) when the refresh token is not a live one.
        """
        pair = await self.apis.read(
            TokenPair,
            "admin",
            "/auth/refresh",
            method="POST",
            json={"refresh_token": refresh_token},
        )
        return await self._start(pair)

    async def _start(self, pair: TokenPair) -> tuple[str, ActiveSession]:
        me = await self.apis.read(Me, "admin", "/users/me", token=pair.access_token)
        now = self.clock()
        secret = secrets.token_urlsafe(32)
        row = WebSession(
            id=uuid.uuid4(),
            secret_hash=secret_hash(secret),
            user_id=me.id,
            username=me.username,
            display_name=me.display_name,
            last_seen_at=now,
            csrf_token=secrets.token_urlsafe(32),
        )
        self._store_pair(row, pair, now)
        await self._adopt_default_context(row, pair.access_token)
        # The database last, after every call to admin: the login's transaction takes a pooled
        # connection at its first statement and holds it to the end (as deps.optional_session).
        await self.repository.purge_expired(now, now - self.settings.idle)
        await self.repository.add(row)
        return secret, self._active(row)

    async def _adopt_default_context(self, row: WebSession, token: str) -> None:
        """Start where the user last worked: admin's default context, when it still opens."""
        context = await self.apis.read(
            DefaultContext, "admin", "/users/me/default-context", token=token
        )
        if context.project_id is None:
            return
        try:
            project = await self.apis.read(
                Project, "admin", f"/projects/{context.project_id}", token=token
            )
            org = await self.apis.read(Org, "admin", f"/orgs/{project.org_id}", token=token)
        except ApiProblem as problem:
            if problem.status in (403, 404):
                return  # no longer visible: the user picks another
            raise
        self._set_context(row, org, project)

    async def resolve(self, secret: str) -> ActiveSession | None:
        """The live session a cookie names, its access token refreshed when near expiry;
        None when there is none (unknown, idle too long, or the login ended at admin)."""
        now = self.clock()
        row = await self.repository.by_secret_hash(secret_hash(secret))
        if row is None:
            return None
        if row.refresh_expires_at <= now or row.last_seen_at <= now - self.settings.idle:
            await self.repository.delete(row)
            return None
        if row.access_expires_at - self.settings.refresh_margin <= now:
            # One refresh per session at a time: admin takes a refresh token used twice for a
            # stolen one and ends the login, so concurrent requests wait here for the first.
            row = await self.repository.by_secret_hash(row.secret_hash, lock=True)
            if row is None:
                return None
            expiring = row.access_expires_at - self.settings.refresh_margin <= now
            if expiring and not await self._refresh(row, now):
                return None
        if row.last_seen_at <= now - SEEN_RESOLUTION:
            row.last_seen_at = now
        try:
            return self._active(row)
        except Unsealable:
            logger.warning("session unsealable under the current keys", session_id=str(row.id))
            await self.repository.delete(row)
            return None

    async def _refresh(self, row: WebSession, now: datetime) -> bool:
        try:
            refresh_token = self._open(row, "refresh", row.refresh_token_sealed)
            pair = await self.apis.read(
                TokenPair,
                "admin",
                "/auth/refresh",
                method="POST",
                json={"refresh_token": refresh_token},
            )
        except Unsealable:
            logger.warning("session unsealable under the current keys", session_id=str(row.id))
            await self.repository.delete(row)
            return False
        except ApiProblem as problem:
            if problem.status != 401:
                raise  # admin down or limiting: the session stays, the page says why
            await self.repository.delete(row)  # revoked, expired or disabled at admin
            return False
        self._store_pair(row, pair, now)
        return True

    async def log_out(self, secret: str) -> None:
        """Revoke the login at admin and forget the session (no session: nothing to do)."""
        row = await self.repository.by_secret_hash(secret_hash(secret), lock=True)
        if row is None:
            return
        try:
            refresh_token = self._open(row, "refresh", row.refresh_token_sealed)
            await self.apis.call(
                "admin", "POST", "/auth/logout", json={"refresh_token": refresh_token}
            )
        except (Unsealable, ApiProblem) as exc:
            # The session ends here either way; a login admin could not revoke now still
            # expires with its refresh token.
            logger.warning("logout not revoked at admin", error=str(exc))
        await self.repository.delete(row)

    async def forget(self, secret: str) -> None:
        """Drop the session without asking admin: its login has already ended there."""
        row = await self.repository.by_secret_hash(secret_hash(secret))
        if row is not None:
            await self.repository.delete(row)

    async def set_context(self, session_id: uuid.UUID, org: Org, project: Project) -> None:
        row = await self.repository.get(session_id)
        if row is not None:
            self._set_context(row, org, project)

    @staticmethod
    def _set_context(row: WebSession, org: Org, project: Project) -> None:
        row.org_id, row.org_name = org.id, org.name
        row.project_id, row.project_name = project.id, project.name
