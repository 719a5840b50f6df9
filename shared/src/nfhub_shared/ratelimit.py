"""Fixed-window rate limits per token and category (read, write, auth).

In-process by default; with REDIS_URL set the counters live in Redis so several replicas
share them.
"""

from __future__ import annotations

import functools
import math
import time
from typing import NamedTuple, Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from nfhub_shared.auth.tokens import hash_token

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

    async def close(self) -> None: ...


class InProcessRateLimiter:
    def __init__(self, window_seconds: int, max_keys: int = 100_000) -> None:
        self.window_seconds = window_seconds
        self.max_keys = max_keys
        self._window_start = 0
        self._counts: dict[tuple[str, str], int] = {}

    async def hit(self, key: str, category: str, limit: int) -> RateDecision:
        now = time.time()
        window_start = int(now // self.window_seconds) * self.window_seconds
        if window_start != self._window_start or len(self._counts) > self.max_keys:
            self._window_start = window_start
            self._counts = {}
        count = self._counts.get((key, category), 0) + 1
        self._counts[(key, category)] = count
        reset = max(math.ceil(window_start + self.window_seconds - now), 1)
        return RateDecision(count <= limit, limit, max(limit - count, 0), reset)

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    def __init__(self, redis: Redis, window_seconds: int) -> None:
        self.redis = redis
        self.window_seconds = window_seconds

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
        except RedisError as exc:
            # A rate limiter that is down must not take the API down with it.
            logger.warning("rate limiter unavailable, allowing", error=type(exc).__name__)
            return RateDecision(True, limit, limit, reset)
        return RateDecision(int(count) <= limit, limit, max(limit - int(count), 0), reset)

    async def close(self) -> None:
        await self.redis.aclose()


def rate_limit_category(method: str, path: str) -> str:
    if "/auth/" in path:
        return "auth"
    return "read" if method in {"GET", "HEAD", "OPTIONS"} else "write"


def caller_key(authorization: str | None, client_host: str | None) -> str:
    if authorization and authorization[:7].lower() == "bearer " and len(authorization) > 7:
        return _token_key(authorization)
    return "ip:" + (client_host or "unknown")


# A client repeats its token on every call: hash it once, not per request. The key is a
# hash so that no token reaches Redis.
@functools.lru_cache(maxsize=10_000)
def _token_key(authorization: str) -> str:
    return "t:" + hash_token(authorization[7:].strip())[:32]
