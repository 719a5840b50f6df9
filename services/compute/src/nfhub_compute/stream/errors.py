from __future__ import annotations

from nfhub_shared.errors import BadRequest


class UnknownEventId(BadRequest):
    """A Last-Event-ID that is no event of this project (or one pruned after the retention)."""

    title = "Unknown Last-Event-ID"
