"""A monotonic clock a test moves by hand, for caches that take a ``clock`` callable: waiting
out a TTL or a cooldown takes no time and cannot be late on a busy machine."""

from __future__ import annotations


class FakeClock:
    def __init__(self) -> None:
        self.start = 1_000.0
        self.now = self.start

    def __call__(self) -> float:
        return self.now

    def at(self, seconds: float) -> None:
        """``seconds`` after the clock was made."""
        self.now = self.start + seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds
