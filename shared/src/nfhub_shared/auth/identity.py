"""Where a service learns who a token belongs to and what role it has in a project.

Other services ask admin over HTTP (service-authenticated) and cache the answers. Admin
announces every change of access at commit and the services drop the cached answers it
concerns at once (nfhub_shared.auth.revocations); the cache TTL (at most 60 s) is only the
fallback for when that channel is down. Admin itself answers from its own database through the
same interface.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog
from jwt import PyJWK

from nfhub_shared.auth.principal import OrgRole, Principal, ProjectRole
from nfhub_shared.auth.scopes import parse_scopes
from nfhub_shared.auth.tokens import JwksCache, ServiceTokens, hash_token
from nfhub_shared.cache import ExpiringCache
from nfhub_shared.errors import ServiceUnavailable

logger = structlog.get_logger("nfhub.identity")

# The admin tables whose changes alter a token's identity, and those that alter roles (the
# names admin's triggers announce).
TOKEN_TABLES = frozenset({"personal_access_tokens", "users"})
SESSION_TABLES = frozenset({"refresh_tokens", "users"})
ROLE_TABLES = frozenset({"org_memberships", "project_memberships", "projects", "orgs", "users"})

# Unknown answers ("no such token", "not a member") are cached briefly: long enough to blunt
# a flood, short enough that a member who was just added is not kept waiting.
NEGATIVE_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Membership:
    org_id: uuid.UUID
    role: ProjectRole
    org_role: OrgRole | None = None  # None: a member of the project only


class IdentityResolver(Protocol):
    async def signing_key(self, kid: str) -> PyJWK | None: ...

    async def resolve_pat(self, token: str) -> Principal | None: ...

    async def session_active(self, session_id: str) -> bool:
        """Whether the login an access token names is live (not logged out, user enabled)."""
        ...

    async def project_membership(
        self, principal: Principal, project_id: uuid.UUID
    ) -> Membership | None: ...


class _Absent:
    pass


_ABSENT = _Absent()


class RemoteIdentity:
    """IdentityResolver backed by admin's JWKS, introspection and membership endpoints."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        admin_url: str,
        service_tokens: ServiceTokens,
        jwks_cooldown_seconds: float,
        token_ttl_seconds: float,
        role_ttl_seconds: float,
        max_entries: int = 10_000,
    ) -> None:
        base = admin_url.rstrip("/")
        self.client = client
        self.admin_url = base
        self.service_tokens = service_tokens
        self.jwks = JwksCache(
            client, f"{base}/.well-known/jwks.json", cooldown_seconds=jwks_cooldown_seconds
        )
        self._tokens: ExpiringCache[str, Principal] = ExpiringCache(max_entries, token_ttl_seconds)
        self._negative_tokens: ExpiringCache[str, _Absent] = ExpiringCache(
            max_entries, min(NEGATIVE_CACHE_SECONDS, token_ttl_seconds)
        )
        # Both answers: a login that ended never starts again (its id is never reused).
        self._sessions: ExpiringCache[str, bool] = ExpiringCache(max_entries, token_ttl_seconds)
        # Keyed by the project id's integer: a UUID hashes and compares in Python code.
        self._roles: ExpiringCache[tuple[str, int], Membership] = ExpiringCache(
            max_entries, role_ttl_seconds
        )
        self._negative_roles: ExpiringCache[tuple[str, int], _Absent] = ExpiringCache(
            max_entries, min(NEGATIVE_CACHE_SECONDS, role_ttl_seconds)
        )

    async def signing_key(self, kid: str) -> PyJWK | None:
        return await self.jwks.get_key(kid)

    def forget(self, table: str | None = None) -> None:
        """Drop the cached answers a change of ``table`` may have made wrong (all: None).

        Revocations are rare, and an answer is one admin call away: dropping a whole cache
        costs little and cannot miss an entry a narrower rule would."""
        if table is None or table in TOKEN_TABLES:
            self._tokens.clear()
            self._negative_tokens.clear()
        if table is None or table in SESSION_TABLES:
            self._sessions.clear()
        if table is None or table in ROLE_TABLES:
            self._roles.clear()
            self._negative_roles.clear()

    async def resolve_pat(self, token: str) -> Principal | None:
        key = hash_token(token)
        cached = self._tokens.get(key)
        if cached is not None:
            return cached
        if key in self._negative_tokens:
            return None
        body = await self._post("/api/v1/internal/introspect", {"token": token})
        if not body.get("active"):
            self._negative_tokens.put(key, _ABSENT)
            return None
        principal = Principal(
            subject=str(body["sub"]),
            kind="pat",
            scopes=parse_scopes(str(body.get("scope") or "")),
            username=_optional_str(body.get("username")),
            token_id=_optional_str(body.get("token_id")),
        )
        self._tokens.put(key, principal)
        return principal

    async def session_active(self, session_id: str) -> bool:
        cached = self._sessions.get(session_id)
        if cached is not None:
            return cached
        body = await self._post("/api/v1/internal/login-session", {"session_id": session_id})
        active = body.get("active") is True
        self._sessions.put(session_id, active)
        return active

    async def project_membership(
        self, principal: Principal, project_id: uuid.UUID
    ) -> Membership | None:
        key = (principal.subject, project_id.int)
        cached = self._roles.get(key)
        if cached is not None:
            return cached
        if key in self._negative_roles:
            return None
        body = await self._post(
            "/api/v1/internal/project-access",
            {"user_id": principal.subject, "project_id": str(project_id)},
        )
        if not body.get("role"):
            self._negative_roles.put(key, _ABSENT)
            return None
        org_role = body.get("org_role")
        membership = Membership(
            org_id=uuid.UUID(str(body["org_id"])),
            role=ProjectRole(str(body["role"])),
            org_role=OrgRole(str(org_role)) if org_role else None,
        )
        self._roles.put(key, membership)
        return membership

    async def _post(self, path: str, payload: dict[str, str]) -> dict[str, object]:
        try:
            response = await self.client.post(
                self.admin_url + path,
                json=payload,
                headers={"Authorization": f"Bearer {self.service_tokens.token()}"},
                timeout=5.0,
            )
            response.raise_for_status()
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            logger.warning("admin call failed", path=path, error=type(exc).__name__)
            raise ServiceUnavailable("The identity service (admin) is not reachable.") from exc
        if not isinstance(body, dict):
            raise ServiceUnavailable("The identity service (admin) gave an unexpected answer.")
        return body


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None
