from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogProgress:
    """How much of one log of a run the database holds."""

    next_seq: int = 0
    lines: int = 0
    byte_count: int = 0
    truncated: bool = False
    # Where the shipped lines end in the file; None when only chunks of before it was kept are.
    file_offset: int | None = None
