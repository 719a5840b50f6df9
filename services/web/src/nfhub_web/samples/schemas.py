"""Samples as miner answers them, the list's filters, the sample form, and an import's sheet
shown back row by row with miner's verdict on each row."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from pydantic import Field

from nfhub_web.apis import ApiProblem
from nfhub_web.forms import json_value, optional, pretty, tags, text
from nfhub_web.schemas import ApiModel

# miner's choices, for the form's select and the list's filter (miner refuses any other).
SAMPLE_TYPES = ("unknown", "germline", "somatic", "ffpe", "liquid_biopsy")
SAMPLES_PER_PAGE = 50
FORM_FIELDS = (
    "display_id", "subject_id", "sample_type", "tissue", "collection_date", "barcode",
    "external_id", "tags", "properties", "files",
)  # fmt: skip
# An import's rows are all shown up to this many; past it, only the rows miner refused.
IMPORT_ROWS_SHOWN = 500
JSON_LINES_SUFFIXES = (".jsonl", ".ndjson")


class SubjectBrief(ApiModel):
    id: uuid.UUID
    display_id: str


class FileSet(ApiModel):
    lane: str | None = None
    replicate: int | None = None
    paths: dict[str, str] = Field(default_factory=dict)
    attributes: dict[str, Any] = Field(default_factory=dict)


class SampleRead(ApiModel):
    id: uuid.UUID
    display_id: str
    subject: SubjectBrief | None = None
    sample_type: str
    tissue: str | None = None
    collection_date: date | None = None
    barcode: str | None = None
    external_id: str | None = None
    tags: list[str] = Field(default_factory=list)
    properties: dict[str, Any] = Field(default_factory=dict)
    files: list[FileSet] = Field(default_factory=list)
    created_by: str = ""
    created_at: datetime
    updated_at: datetime


class ImportResult(ApiModel):
    subjects_created: int
    samples_created: int
    rows: int
    samples: list[SubjectBrief] = Field(default_factory=list)


@dataclass(frozen=True)
class SampleFilters:
    """The list's search and filters, as miner's GET /samples offers them."""

    q: str | None = None
    sample_type: str | None = None
    subject_id: uuid.UUID | None = None
    tag: str | None = None
    offset: int = 0

    @property
    def active(self) -> bool:
        return bool(self.q or self.sample_type or self.subject_id or self.tag)

    def _filter_params(self) -> list[tuple[str, str]]:
        params = [("q", self.q)] if self.q else []
        if self.sample_type:
            params.append(("sample_type", self.sample_type))
        if self.subject_id:
            params.append(("subject_id", str(self.subject_id)))
        return params + ([("tag", self.tag)] if self.tag else [])

    def api_params(self) -> list[tuple[str, str | int]]:
        return [*self._filter_params(), ("limit", SAMPLES_PER_PAGE), ("offset", self.offset)]

    def url(self) -> str:
        """This page's own URL (what the search pushes into the address bar)."""
        params = [*self._filter_params(), *([("offset", str(self.offset))] * bool(self.offset))]
        return "/samples" + (f"?{urlencode(params)}" if params else "")

    def page_prefix(self) -> str:
        return "/samples?" + urlencode([*self._filter_params(), ("offset", "")])


@dataclass(frozen=True)
class SampleForm:
    """The form's fields as typed (shown again when miner refuses them)."""

    display_id: str = ""
    subject_id: str = ""
    sample_type: str = "unknown"
    tissue: str = ""
    collection_date: str = ""
    barcode: str = ""
    external_id: str = ""
    tags: str = ""
    properties: str = ""
    files: str = ""

    @classmethod
    def submitted(cls, form: Mapping[str, Any]) -> SampleForm:
        return cls(**{name: text(form, name) for name in FORM_FIELDS})

    @classmethod
    def of(cls, sample: SampleRead) -> SampleForm:
        return cls(
            display_id=sample.display_id,
            subject_id=str(sample.subject.id) if sample.subject else "",
            sample_type=sample.sample_type,
            tissue=sample.tissue or "",
            collection_date=sample.collection_date.isoformat() if sample.collection_date else "",
            barcode=sample.barcode or "",
            external_id=sample.external_id or "",
            tags=" ".join(sample.tags),
            properties=pretty(sample.properties),
            files=pretty([f.model_dump(exclude_defaults=True) for f in sample.files]),
        )

    def body(self) -> dict[str, Any]:
        """The JSON for POST and PATCH alike: every field, an empty one as none (PATCH then
        replaces the sample's files with the box's)."""
        return {
            "display_id": self.display_id,
            "subject_id": optional(self.subject_id),
            "sample_type": self.sample_type or "unknown",
            "tissue": optional(self.tissue),
            "collection_date": optional(self.collection_date),
            "barcode": optional(self.barcode),
            "external_id": optional(self.external_id),
            "tags": tags(self.tags),
            "properties": json_value(self.properties, {}),
            "files": json_value(self.files, []),
        }


@dataclass(frozen=True)
class SheetRow:
    number: int  # as miner counts them: 1 is the first row under the header
    cells: list[str]
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportView:
    """The submitted sheet as a table, each row with what miner said about it."""

    filename: str
    header: list[str]
    rows: list[SheetRow]
    total_rows: int
    # What names no row (the header, the whole sheet, the request).
    general: list[str]
    problem: ApiProblem

    @property
    def all_shown(self) -> bool:
        return len(self.rows) == self.total_rows


def _csv_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and numbered rows, split as miner splits them (the header line's most frequent
    of comma, semicolon and tab), blank lines counted but not shown."""
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        header = next(reader, [])
        for number, values in enumerate(reader, start=1):
            if any(value.strip() for value in values):
                rows.append((number, values))
    except csv.Error:
        pass  # miner names the row it could not read; the rows before it are shown
    return header, rows


def _json_lines(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    return ["line"], [
        (number, [line]) for number, line in enumerate(text.splitlines(), start=1) if line.strip()
    ]


def import_view(body: bytes, filename: str, problem: ApiProblem) -> ImportView:
    sheet = body.decode("utf-8-sig", errors="replace")
    jsonl = filename.lower().endswith(JSON_LINES_SUFFIXES)
    header, numbered = _json_lines(sheet) if jsonl else _csv_rows(sheet)
    by_row: dict[int, list[str]] = {}
    general: list[str] = []
    for error in problem.errors:
        message = f"{error.field}: {error.message}" if error.field else error.message
        if error.row:
            by_row.setdefault(error.row, []).append(message)
        else:
            general.append(message)
    rows = [SheetRow(number, cells, by_row.get(number, [])) for number, cells in numbered]
    if len(rows) > IMPORT_ROWS_SHOWN:
        rows = [row for row in rows if row.errors]
    # A row miner names that is not in the table (one csv could not split): said above it.
    shown = {row.number for row in rows} | {number for number, _ in numbered}
    general += [
        f"row {number}: {message}"
        for number, messages in sorted(by_row.items())
        if number not in shown
        for message in messages
    ]
    return ImportView(filename, header, rows, len(numbered), general, problem)
