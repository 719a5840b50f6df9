"""Token formats and verification: admin's JWTs (EdDSA, JWKS), opaque PATs, service tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
import jwt
import structlog
from jwt import PyJWK, PyJWKSet

from nfhub_shared.auth.principal import Principal
from nfhub_shared.auth.scopes import parse_scopes
from nfhub_shared.cache import ExpiringCache
from nfhub_shared.errors import ServiceUnavailable, Unauthorized

PAT_PREFIX = "nfh_pat_"
REFRESH_PREFIX = "nfh_rt_"
ACCESS_TOKEN_ALGORITHMS = ("EdDSA",)
SERVICE_TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
SERVICE_TOKEN_AUDIENCE = "nfhub-internal"  # noqa: S105 - a claim value
SERVICE_TOKEN_ISSUER = "nfhub-service"  # noqa: S105 - a claim value
SERVICE_TOKEN_TTL_SECONDS = 120
# A call one service makes for its caller carries the caller's bearer and, in this header, the
# calling service's own token (see nfhub_shared.clients.CallerClient).
SERVICE_CALL_HEADER = "X-NFHub-Service"
SEEN_SERVICE_TOKENS = 64  # a few services, each with its current and previous token

logger = structlog.get_logger("nfhub.auth")


def secrets_match(expected: str, given: str) -> bool:
    """Constant-time equality of a secret we made and one a client sent. As bytes:
    ``hmac.compare_digest`` raises TypeError on a str that is not ASCII, a 500 for any client."""
    return secrets.compare_digest(expected.encode(), given.encode())


def new_opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """Tokens are 256-bit random strings: a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


KeyLookup = Callable[[str], Awaitable[PyJWK | None]]


class JwksCache:
    """admin's public keys, fetched once and refetched when a token names an unknown ``kid``.

    Refetches are spaced by a cooldown so a flood of tokens with made-up kids cannot turn
    into a flood of requests to admin.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        *,
        cooldown_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.url = url
        self.cooldown_seconds = cooldown_seconds
        self.clock = clock  # a test's own clock waits out the cooldown without sleeping
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def get_key(self, kid: str) -> PyJWK | None:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)
            if key is not None:
                return key
            now = self.clock()
            if self._fetched_at is not None and now - self._fetched_at < self.cooldown_seconds:
                return None
            try:
                await self._refresh()
            finally:
                # Also after a failure: while admin is down, callers wait out the cooldown
                # instead of each trying again.
                self._fetched_at = self.clock()
            return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            response = await self.client.get(self.url, timeout=5.0)
            response.raise_for_status()
            keyset = PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            logger.warning("jwks fetch failed", url=self.url, error=type(exc).__name__)
            raise ServiceUnavailable("The identity service's keys cannot be fetched.") from exc
        self._keys = {key.key_id: key for key in keyset.keys if key.key_id}


# RFC 9068 section 2.1: the media type of a JWT access token, as the header's "typ" says it
# (compared without case, with or without the "application/" prefix).
ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


def is_access_token_header(header: Mapping[str, Any]) -> bool:
    """The header says "access token": no other JWT signed by the same key (typ JWT, or no
    typ at all) can pass as one, whatever its claims."""
    typ = header.get("typ")
    return isinstance(typ, str) and typ.lower() in ACCESS_TOKEN_TYPES


def verify_access_token(
    token: str, key: PyJWK | Any, *, issuer: str, audience: str, leeway: int
) -> dict[str, Any]:
    decoded = jwt.decode_complete(
        token,
        key=key,
        algorithms=list(ACCESS_TOKEN_ALGORITHMS),
        issuer=issuer,
        audience=audience,
        leeway=leeway,
        options={"require": ["exp", "iat", "nbf", "sub", "iss", "aud", "jti"]},
    )
    if not is_access_token_header(decoded["header"]):
        raise jwt.InvalidTokenError("not an access token (header typ is not at+jwt)")
    claims: dict[str, Any] = decoded["payload"]
    if claims.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return claims


async def principal_from_jwt(
    token: str,
    key_lookup: KeyLookup,
    *,
    issuer: str,
    audience: str,
    leeway: int,
    cache: VerifiedTokenCache | None = None,
) -> Principal:
    if cache is not None:
        cached = cache.get(token)
        if cached is not None:
            return cached
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The bearer token is not a valid token.") from exc
    algorithm = header.get("alg")
    kid = header.get("kid")
    # Decide the algorithm from our own list before looking at any key, so "none" or an HMAC
    # keyed with our public key can never be chosen by the token.
    if algorithm not in ACCESS_TOKEN_ALGORITHMS or not isinstance(kid, str):
        raise Unauthorized("The bearer token is not signed the way nfhub signs tokens.")
    if not is_access_token_header(header):
        raise Unauthorized("The bearer token is not an access token (its typ is not at+jwt).")
    key = await key_lookup(kid)
    if key is None:
        raise Unauthorized("The bearer token was signed with an unknown key.")
    try:
        claims = verify_access_token(token, key, issuer=issuer, audience=audience, leeway=leeway)
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The access token has expired; refresh it or log in again.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The bearer token is not valid.") from exc
    principal = Principal(
        subject=str(claims["sub"]),
        kind="user",
        scopes=parse_scopes(claims.get("scope")),
        username=claims.get("preferred_username"),
        token_id=str(claims["jti"]),
        session_id=sid if isinstance(sid := claims.get("sid"), str) else None,
    )
    if cache is not None:
        cache.put(token, principal, float(claims["exp"]))
    return principal


class VerifiedTokenCache:
    """Access tokens already verified, so a client reusing its token skips the signature check.

    Keyed by the whole token string: only a byte-identical token hits. Entries live at most
    ``ttl_seconds`` and never past the token's own expiry.
    """

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self._entries: ExpiringCache[str, Principal] = ExpiringCache(max_entries, ttl_seconds)

    def get(self, token: str) -> Principal | None:
        return self._entries.get(token)

    def put(self, token: str, principal: Principal, expires_at: float) -> None:
        """``expires_at`` is the token's ``exp`` (epoch seconds); the cache runs on its clock."""
        remaining = expires_at - time.time()
        self._entries.put(token, principal, not_after=self._entries.clock() + remaining)


class ServiceTokens:
    """Short-lived HS256 tokens that services present to each other's internal endpoints."""

    def __init__(self, secret: str, service_name: str) -> None:
        self._secret = secret
        self.service_name = service_name
        self._cached: tuple[str, float] | None = None
        self._seen: dict[str, float] = {}

    def token(self) -> str:
        now = time.time()
        if self._cached and self._cached[1] - now > SERVICE_TOKEN_TTL_SECONDS / 2:
            return self._cached[0]
        expires = now + SERVICE_TOKEN_TTL_SECONDS
        token = jwt.encode(
            {
                "iss": SERVICE_TOKEN_ISSUER,
                "aud": SERVICE_TOKEN_AUDIENCE,
                "sub": self.service_name,
                "iat": int(now),
                "exp": int(expires),
            },
            self._secret,
            algorithm=SERVICE_TOKEN_ALGORITHM,
        )
        self._cached = (token, expires)
        return token

    def is_service_call(self, token: str) -> bool:
        """``token`` is a valid service token. Tokens seen are remembered until they expire:
        each service reuses its token for a minute, on every call it makes."""
        expires = self._seen.get(token)
        if expires is not None and expires > time.time():
            return True
        try:
            expires = float(self._decode(token)["exp"])
        except jwt.InvalidTokenError:
            return False
        if len(self._seen) >= SEEN_SERVICE_TOKENS:
            self._seen.clear()
        self._seen[token] = expires
        return True

    def verify(self, token: str) -> Principal:
        try:
            claims = self._decode(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("This endpoint is for nfhub services only.") from exc
        return Principal(subject=str(claims["sub"]), kind="service")

    def _decode(self, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            self._secret,
            algorithms=[SERVICE_TOKEN_ALGORITHM],
            audience=SERVICE_TOKEN_AUDIENCE,
            issuer=SERVICE_TOKEN_ISSUER,
            options={"require": ["exp", "iat", "sub"]},
        )
        return claims
