"""Fixed-window rate limits per token and category (read, write, auth).

In-process by default; with REDIS_URL set the counters live in Redis so several replicas
share them.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import time
from typing import TYPE_CHECKING, NamedTuple, Protocol

import structlog

from nfhub_shared.auth.tokens import hash_token
from nfhub_shared.errors import RateLimited

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = structlog.get_logger("nfhub.ratelimit")


class RateDecision(NamedTuple):
    """One per API request: a named tuple, several times cheaper to make than a dataclass."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_seconds),
        }

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-ratelimit-limit", b"%d" % self.limit),
            (b"x-ratelimit-remaining", b"%d" % self.remaining),
            (b"x-ratelimit-reset", b"%d" % self.reset_seconds),
        ]


class RateLimiter(Protocol):
    async def hit(self, key: str, category: str, limit: int) -> RateDecision: ...

    async def peek(self, key: str, category: str, limit: int) -> RateDecision:
        """Whether one more hit would be allowed, without counting one."""
        ...

    async def close(self) -> None: ...


class InProcessRateLimiter:
    def __init__(self, window_seconds: int, max_keys: int = 100_000) -> None:
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._window_start = 0
        self._counts: dict[tuple[str, str], int] = {}

    async def hit(self, key: str, category: str, limit: int) -> RateDecision:
        reset = self._roll_window()
        count = self._counts.get((key, category), 0) + 1
        self._counts[(key, category)] = count
        return RateDecision(count <= limit, limit, max(limit - count, 0), reset)

    async def peek(self, key: str, category: str, limit: int) -> RateDecision:
        reset = self._roll_window()
        count = self._counts.get((key, category), 0)
        return RateDecision(count < limit, limit, max(limit - count, 0), reset)

    def _roll_window(self) -> int:
        """Start a new window when the clock has passed this one; the seconds left in it."""
        now = time.time()
        window_start = int(now // self.window_seconds) * self.window_seconds
        if window_start != self._window_start or len(self._counts) > self.max_keys:
            self._window_start = window_start
            self._counts = {}
        return max(math.ceil(window_start + self.window_seconds - now), 1)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Only with REDIS_URL set: redis is imported by the stacks that use it, not at every start."""

    def __init__(self, redis: Redis, window_seconds: int) -> None:
        from redis.exceptions import RedisError

        self.redis = redis
        self.window_seconds = window_seconds
        self.redis_error = RedisError

    async def hit(self, key: str, category: str, limit: int) -> RateDecision:
        now = time.time()
        window_start = int(now // self.window_seconds) * self.window_seconds
        redis_key = f"nfhub:rl:{category}:{key}:{window_start}"
        reset = max(math.ceil(window_start + self.window_seconds - now), 1)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, self.window_seconds + 1)
                count, _ = await pipe.execute()
        except self.redis_error as exc:
            # A rate limiter that is down must not take the API down with it.
            logger.warning("rate limiter unavailable, allowing", error=type(exc).__name__)
            return RateDecision(True, limit, limit, reset)
        return RateDecision(int(count) <= limit, limit, max(limit - int(count), 0), reset)

    async def peek(self, key: str, category: str, limit: int) -> RateDecision:
        now = time.time()
        window_start = int(now // self.window_seconds) * self.window_seconds
        reset = max(math.ceil(window_start + self.window_seconds - now), 1)
        try:
            raw = await self.redis.get(f"nfhub:rl:{category}:{key}:{window_start}")
        except self.redis_error as exc:
            logger.warning("rate limiter unavailable, allowing", error=type(exc).__name__)
            return RateDecision(True, limit, limit, reset)
        count = int(raw or 0)
        return RateDecision(count < limit, limit, max(limit - count, 0), reset)

    async def close(self) -> None:
        await self.redis.aclose()


class FailureLimit:
    """Failures counted per name over the rate-limit window (failed logins per username),
    whichever address they come from: past ``limit``, the name is refused until the window
    ends, right password or not, so spreading guesses over many addresses gains nothing."""

    def __init__(self, limiter: RateLimiter, category: str, limit: int, *, what: str) -> None:
        self.limiter = limiter
        self.category = category
        self.limit = limit
        self.what = what

    async def check(self, name: str) -> None:
        decision = await self.limiter.peek(_name_key(name), self.category, self.limit)
        if not decision.allowed:
            seconds = decision.reset_seconds
            raise RateLimited(
                f"Too many {self.what} for this account; retry in {seconds} s.",
                headers={**decision.headers(), "Retry-After": str(seconds)},
            )

    async def record(self, name: str) -> None:
        await self.limiter.hit(_name_key(name), self.category, self.limit)


def _name_key(name: str) -> str:
    return "n:" + hash_token(name.strip().lower())[:32]


def rate_limit_category(method: str, path: str) -> str:
    if "/auth/" in path:
        return "auth"
    return "read" if method in {"GET", "HEAD", "OPTIONS"} else "write"


def token_key(authorization: str) -> str:
    """The budget of an authenticated bearer: its token's (hashed, so no token reaches Redis)."""
    return _token_key(authorization)


# A client repeats its token on every call: hash it once, not per request.
@functools.lru_cache(maxsize=10_000)
def _token_key(authorization: str) -> str:
    return "t:" + hash_token(authorization[7:].strip())[:32]


@functools.lru_cache(maxsize=10_000)
def address_key(host: str | None) -> str:
    """The budget of a caller who did not authenticate: its address's. The address is what
    the ASGI server says (uvicorn reads X-Forwarded-For only from --forwarded-allow-ips).
    IPv6 callers count by their /64: one host is routinely given a whole /64 to pick from."""
    if not host:
        return "ip:unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "ip:" + host[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"ip:{address.ipv4_mapped}"
        return "ip6:" + str(ipaddress.IPv6Network((address, 64), strict=False))
    return f"ip:{address}"
