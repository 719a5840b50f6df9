"""When a failed delivery is tried again: a schedule of delays (a setting), each stretched or
shrunk by up to ``JITTER`` so that many deliveries failing together do not retry together."""

from __future__ import annotations

import random
from collections.abc import Sequence

JITTER = 0.2
# After the first attempt fails: 5 s, 30 s, 2 min, 10 min, 30 min, 2 h, 5 h, 10 h (about a
# day in all, the Standard Webhooks recommendation), then the delivery is FAILED.
DEFAULT_SCHEDULE: tuple[float, ...] = (5, 30, 120, 600, 1800, 7200, 18000, 36000)


def next_delay(
    attempts: int, schedule: Sequence[float], rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None: give up."""
    if attempts < 1 or attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))
