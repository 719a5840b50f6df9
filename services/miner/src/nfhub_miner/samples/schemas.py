from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field
from pydantic.config import JsonDict

from nfhub_miner.fields import DisplayId, PastDate, Properties, Tags
from nfhub_miner.paths import EXTERNAL_SCHEMES, is_external
from nfhub_shared.schemas import Omittable, ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_miner.models import Sample

SampleType = Literal["germline", "somatic", "ffpe", "liquid_biopsy", "unknown"]
ROLE_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
MAX_FILE_SETS = 200
MAX_PATH_CHARS = 4096

Role = Annotated[str, Field(pattern=ROLE_PATTERN, examples=["fastq_1"])]
Scalar = str | int | float | bool


def _check_path(path: str) -> str:
    if is_external(path):
        return path
    if path.startswith("/") or "://" in path:
        raise ValueError(
            f"{path[:100]!r}: give a path inside the project (as the files service names it) "
            f"or a URI ({', '.join(scheme[:-3] for scheme in EXTERNAL_SCHEMES)})"
        )
    if any(part in ("", ".", "..") for part in path.split("/")) or "\x00" in path:
        raise ValueError(f"{path[:100]!r} is not a clean relative path")
    return path


# _check_path's rules as the document's pattern: a URI of an external scheme, or a relative
# path without empty, '.' or '..' segments (which also rules out a leading '/' and '://').
_SEGMENT = r"(?!\.\.?(?:/|(?![\s\S])))[^/\x00]+"
_SCHEMES = "|".join(scheme.removesuffix("://") for scheme in EXTERNAL_SCHEMES)
PATH_PATTERN = rf"^(?:(?:{_SCHEMES})://[\s\S]*|{_SEGMENT}(?:/{_SEGMENT})*)$"
# Pydantic documents a dict's key pattern as patternProperties: other keys must be refused too.
_ONLY_ROLES: JsonDict = {"additionalProperties": False}


class FileSet(Schema):
    """One row of a samplesheet: a lane's (or a replicate's) files, by role."""

    lane: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,50}$")
    replicate: int | None = Field(default=None, ge=1, le=10_000)
    paths: dict[
        Role,
        Annotated[
            str,
            Field(
                min_length=1, max_length=MAX_PATH_CHARS, json_schema_extra={"pattern": PATH_PATTERN}
            ),
            AfterValidator(_check_path),
        ],
    ] = Field(
        min_length=1,
        max_length=20,
        json_schema_extra=_ONLY_ROLES,
        description="Role → a path in the project's storage, or a URI outside it",
        examples=[{"fastq_1": "raw/S1_R1.fastq.gz", "fastq_2": "raw/S1_R2.fastq.gz"}],
    )
    attributes: dict[Role, Scalar] = Field(
        default_factory=dict,
        max_length=20,
        json_schema_extra=_ONLY_ROLES,
        description="Samplesheet columns that differ from row to row (control_replicate…)",
    )


class SampleCreate(Schema):
    display_id: DisplayId
    subject_id: uuid.UUID | None = None
    sample_type: SampleType = "unknown"
    tissue: str | None = Field(default=None, max_length=200)
    collection_date: PastDate = None
    barcode: str | None = Field(default=None, max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    tags: Tags = Field(default_factory=list)
    properties: Properties = Field(default_factory=dict)
    files: list[FileSet] = Field(default_factory=list, max_length=MAX_FILE_SETS)


class SampleUpdate(Schema):
    display_id: Omittable[DisplayId] = None
    subject_id: uuid.UUID | None = None
    sample_type: Omittable[SampleType] = None
    tissue: str | None = Field(default=None, max_length=200)
    collection_date: PastDate = None
    barcode: str | None = Field(default=None, max_length=100)
    external_id: str | None = Field(default=None, max_length=200)
    tags: Omittable[Tags] = None
    properties: Omittable[Properties] = None
    files: Omittable[Annotated[list[FileSet], Field(max_length=MAX_FILE_SETS)]] = None


class SubjectBrief(ReadSchema):
    id: uuid.UUID
    display_id: str


class SampleRead(ReadSchema):
    id: uuid.UUID
    display_id: str
    subject: SubjectBrief | None = None
    sample_type: SampleType
    tissue: str | None = None
    collection_date: date | None = None
    barcode: str | None = None
    external_id: str | None = None
    tags: list[str]
    properties: dict[str, Any]
    files: list[FileSet]
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, sample: Sample, subject_display_id: str | None) -> SampleRead:
        subject = None
        if sample.subject_id is not None and subject_display_id is not None:
            subject = SubjectBrief(id=sample.subject_id, display_id=subject_display_id)
        return read_model(cls, sample, subject=subject)


class ResolvedPath(ReadSchema):
    path: str = Field(description="As given: in the project's storage, or a URI")
    uri: str = Field(description="What a pipeline is given: the storage's own URI or path")


class ResolvedFileSet(ReadSchema):
    lane: str | None = None
    replicate: int | None = None
    files: dict[str, ResolvedPath]
    attributes: dict[str, Scalar]


class SubjectInfo(ReadSchema):
    id: uuid.UUID
    display_id: str
    sex: str
    date_of_birth: date | None = None
    external_id: str | None = None
    diagnosis: str | None = None
    properties: dict[str, Any]


class SampleInfo(ReadSchema):
    """Pipeline-ready: the sample, its subject, its files resolved to storage URIs."""

    sample: SampleRead
    subject: SubjectInfo | None = None
    files: list[ResolvedFileSet]


class ImportRowError(ReadSchema):
    row: int = Field(description="1-based data row (the header is row 0)")
    sample: str | None = None
    column: str | None = None
    message: str


class ImportResult(ReadSchema):
    subjects_created: int
    samples_created: int
    rows: int
    samples: list[SubjectBrief] = Field(description="The samples made, in the input's order")


ImportFormat = Literal["csv", "jsonl"]
