"""A bounded map whose entries expire, for the caches read on every authenticated request."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """Entries live ``ttl_seconds`` (or until an earlier deadline given with them).

    A lookup is one dict access and one clock read. cachetools' TTLCache costs several times
    that (a timer context and a linked list per access), and the token, role and
    storage-location caches are read on every request (bench/auth.py, bench/files.py).
    When full, expired entries are dropped first, then the oldest tenth.
    """

    def __init__(
        self,
        max_entries: int,
        ttl_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[K, tuple[V, float]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            self._entries.pop(key, None)
            return None
        return entry[0]

    def deadline(self, key: K) -> float | None:
        """When the entry expires (on this cache's clock), or None when there is none."""
        entry = self._entries.get(key)
        if entry is None or entry[1] <= self.clock():
            return None
        return entry[1]

    def put(self, key: K, value: V, *, not_after: float | None = None) -> float:
        """Store ``value``; it expires after the TTL, or at ``not_after`` if that is sooner."""
        deadline = self.clock() + self.ttl_seconds
        if not_after is not None and not_after < deadline:
            deadline = not_after
        if self._entries.pop(key, None) is None and len(self._entries) >= self.max_entries:
            self._make_room()
        self._entries[key] = (value, deadline)
        return deadline

    def pop(self, key: K) -> V | None:
        entry = self._entries.pop(key, None)
        return None if entry is None else entry[0]

    def clear(self) -> None:
        self._entries.clear()

    def __contains__(self, key: K) -> bool:
        return self.deadline(key) is not None

    def __len__(self) -> int:
        return len(self._entries)

    def _make_room(self) -> None:
        now = self.clock()
        expired = [key for key, (_, deadline) in self._entries.items() if deadline <= now]
        for key in expired:
            del self._entries[key]
        if len(self._entries) >= self.max_entries:
            # Dicts keep insertion order, and put() re-inserts: the first keys are the oldest.
            oldest = list(itertools.islice(self._entries, max(1, self.max_entries // 10)))
            for key in oldest:
                del self._entries[key]
