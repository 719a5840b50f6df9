"""What a samplesheet row is built from: the few columns of a sample and its subject it needs,
read without loading whole ORM objects (an order may hold tens of thousands of samples)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SheetSubject:
    display_id: str
    sex: str
    properties: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SheetSample:
    display_id: str
    sample_type: str
    barcode: str | None
    properties: dict[str, Any]
    files: list[dict[str, Any]]


SheetEntry = tuple[str, SheetSample, SheetSubject | None]  # (role in the order, sample, subject)
