"""ExpiringCache: the bounded, expiring map behind the token, role and location caches."""

from __future__ import annotations

import pytest

from nfhub_shared.cache import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_entry_lives_its_ttl_and_not_a_moment_longer(clock: Clock) -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(10, 60.0, clock=clock)
    assert cache.put("a", 1) == 160.0
    clock.now = 159.99
    assert cache.get("a") == 1
    assert "a" in cache
    clock.now = 160.0
    assert cache.get("a") is None
    assert "a" not in cache
    assert len(cache) == 0  # the expired entry is gone, not just hidden


def test_an_earlier_deadline_wins_over_the_ttl(clock: Clock) -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(10, 60.0, clock=clock)
    cache.put("token", 1, not_after=110.0)
    assert cache.deadline("token") == 110.0
    cache.put("other", 2, not_after=500.0)  # a later one does not extend the TTL
    assert cache.deadline("other") == 160.0
    clock.now = 110.0
    assert cache.get("token") is None
    assert cache.get("other") == 2


def test_putting_again_renews_the_entry(clock: Clock) -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(10, 60.0, clock=clock)
    cache.put("a", 1)
    clock.now = 150.0
    cache.put("a", 2)
    clock.now = 200.0
    assert cache.get("a") == 2
    assert cache.pop("a") == 2
    assert cache.get("a") is None
    assert cache.pop("a") is None


def test_a_full_cache_drops_expired_entries_first_then_the_oldest(clock: Clock) -> None:
    cache: ExpiringCache[int, str] = ExpiringCache(10, 60.0, clock=clock)
    for key in range(5):
        cache.put(key, "short", not_after=101.0)
    for key in range(5, 10):
        cache.put(key, "long")
    clock.now = 102.0
    cache.put(10, "new")  # full: the five expired ones go, nothing live is lost
    assert len(cache) == 6
    assert all(cache.get(key) == "long" for key in range(5, 10))
    for key in range(11, 15):
        cache.put(key, "new")
    assert len(cache) == 10
    cache.put(15, "newest")  # full of live entries: the oldest tenth (key 5) goes
    assert len(cache) == 10
    assert cache.get(5) is None
    assert cache.get(6) == "long"
    assert cache.get(15) == "newest"


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        ExpiringCache(0, 1.0)
