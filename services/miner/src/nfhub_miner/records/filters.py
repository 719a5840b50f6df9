"""What lists of subjects and samples filter on, and the one rule about free-text search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nfhub_miner.fields import search_query
from nfhub_shared.errors import FieldProblem, ValidationFailed


@dataclass(frozen=True, slots=True)
class RecordFilters:
    query: str | None = None
    tag: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def check(self) -> None:
        """A query must have words to match: ``?q=--`` is refused, not a list of everything."""
        if self.query is not None and search_query(self.query) is None:
            raise ValidationFailed(
                "q needs letters or digits: it matches words of ids, tags and properties.",
                errors=[FieldProblem("q", "no words")],
            )
