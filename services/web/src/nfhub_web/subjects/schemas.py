"""Subjects as miner answers them, the list's filters, and the subject form."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import Field

from nfhub_web.forms import json_value, optional, pretty, tags, text
from nfhub_web.schemas import ApiModel

# miner's choices, for the form's select (miner refuses any other).
SEXES = ("unknown", "female", "male", "other")
SUBJECTS_PER_PAGE = 50
FORM_FIELDS = (
    "display_id", "sex", "date_of_birth", "external_id", "diagnosis", "tags", "properties",
)  # fmt: skip


class SubjectRead(ApiModel):
    id: uuid.UUID
    display_id: str
    sex: str
    date_of_birth: date | None = None
    external_id: str | None = None
    diagnosis: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    sample_count: int | None = None
    created_by: str = ""
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class SubjectFilters:
    """The list's search, as miner's GET /subjects offers it."""

    q: str | None = None
    tag: str | None = None
    offset: int = 0

    @property
    def active(self) -> bool:
        return bool(self.q or self.tag)

    def _filter_params(self) -> list[tuple[str, str]]:
        params = [("q", self.q)] if self.q else []
        return params + ([("tag", self.tag)] if self.tag else [])

    def api_params(self) -> list[tuple[str, str | int]]:
        return [*self._filter_params(), ("limit", SUBJECTS_PER_PAGE), ("offset", self.offset)]

    def url(self) -> str:
        """This page's own URL (what the search pushes into the address bar)."""
        params = [*self._filter_params(), *([("offset", str(self.offset))] * bool(self.offset))]
        return "/subjects" + (f"?{urlencode(params)}" if params else "")

    def page_prefix(self) -> str:
        return "/subjects?" + urlencode([*self._filter_params(), ("offset", "")])


@dataclass(frozen=True)
class SubjectForm:
    """The form's fields as typed (shown again when miner refuses them)."""

    display_id: str = ""
    sex: str = "unknown"
    date_of_birth: str = ""
    external_id: str = ""
    diagnosis: str = ""
    tags: str = ""
    properties: str = ""

    @classmethod
    def submitted(cls, form: Mapping[str, Any]) -> SubjectForm:
        return cls(**{name: text(form, name) for name in FORM_FIELDS})

    @classmethod
    def of(cls, subject: SubjectRead) -> SubjectForm:
        return cls(
            display_id=subject.display_id,
            sex=subject.sex,
            date_of_birth=subject.date_of_birth.isoformat() if subject.date_of_birth else "",
            external_id=subject.external_id or "",
            diagnosis=subject.diagnosis or "",
            tags=" ".join(subject.tags),
            properties=pretty(subject.properties),
        )

    def body(self) -> dict[str, Any]:
        """The JSON for POST and PATCH alike: every field, an empty one as none."""
        return {
            "display_id": self.display_id,
            "sex": self.sex or "unknown",
            "date_of_birth": optional(self.date_of_birth),
            "external_id": optional(self.external_id),
            "diagnosis": optional(self.diagnosis),
            "tags": tags(self.tags),
            "properties": json_value(self.properties, {}),
        }
