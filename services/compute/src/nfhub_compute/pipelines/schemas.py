from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from nfhub_shared.schemas import ReadSchema, Schema

if TYPE_CHECKING:
    from nfhub_compute.models import Pipeline, PipelineVersion

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9._-]{0,98}[a-z0-9])?$"
VERSION_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,98}[A-Za-z0-9])?$"
PROFILE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$"
# git over HTTPS or SSH; never file:// or other schemes a server should not clone from.
GIT_URL_PATTERN = r"^(https://[^\s]+|git@[A-Za-z0-9.-]+:[^\s]+)$"

Visibility = Literal["org", "public"]
Profile = Annotated[str, Field(pattern=PROFILE_PATTERN)]


def _source_kinds(schema: dict[str, Any]) -> None:
    """The document says what _one_kind checks: a git url with its revision, or a path."""
    properties = schema.pop("properties")
    null = {"type": "null"}

    def given(name: str) -> dict[str, Any]:
        field = {key: value for key, value in properties[name].items() if key != "default"}
        branches = [branch for branch in field.pop("anyOf") if branch != null]
        return {**field, **branches[0]}

    def kind(required: list[str], null_fields: list[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                **{name: given(name) for name in required},
                **dict.fromkeys(null_fields, null),
            },
            "required": required,
            "additionalProperties": False,
        }

    schema.pop("type", None)
    schema.pop("additionalProperties", None)
    schema["oneOf"] = [kind(["url", "revision"], ["path"]), kind(["path"], ["url", "revision"])]


class PipelineSource(Schema):
    """Either a git repository and revision, or a folder on the compute host."""

    model_config = ConfigDict(json_schema_extra=_source_kinds)

    url: str | None = Field(
        default=None, max_length=2000, pattern=GIT_URL_PATTERN, description="git URL"
    )
    revision: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^[A-Za-z0-9._/+-]+$",
        description="Tag, branch or commit (-r); required with url",
    )
    path: str | None = Field(
        default=None,
        max_length=4096,
        # Absolute; no NUL (no file system path holds one). Documented only: the catalog
        # names folders relative to itself, and LocalSource.inside words the refusal.
        json_schema_extra={"pattern": r"^/[^\x00]*$"},
        description="Absolute folder on the compute host, inside COMPUTE_PIPELINE_ROOTS",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> PipelineSource:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either url (with revision) or path, not both or neither")
        if self.url is not None and not self.revision:
            raise ValueError("a git source needs a revision (tag, branch or commit)")
        if self.path is not None and self.revision is not None:
            raise ValueError("a path source has no revision")
        return self


class PipelineVersionCreate(Schema):
    version: str = Field(pattern=VERSION_PATTERN, examples=["3.14.0"])
    source: PipelineSource
    params_schema: dict[str, Any] | None = Field(
        default=None,
        description="nextflow_schema.json; read from the source when it is a path and omitted",
    )
    input_schema: dict[str, Any] | None = Field(
        default=None,
        description="The samplesheet schema (assets/schema_input.json); read from a path source "
        "when omitted",
    )
    default_params: dict[str, Any] = Field(default_factory=dict)
    profiles: list[Profile] = Field(default_factory=list, max_length=20)


class PipelineCreate(Schema):
    slug: str = Field(pattern=SLUG_PATTERN, examples=["rnaseq"])
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility = Field(
        default="org",
        description="org: this org's projects; public: every org's (needs scope platform:admin)",
    )
    version: PipelineVersionCreate | None = Field(
        default=None, description="A first version, registered with the pipeline"
    )


class PipelineUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    visibility: Visibility | None = Field(
        default=None, description="public needs scope platform:admin"
    )


class PipelineVersionDeprecate(Schema):
    note: str | None = Field(default=None, max_length=2000, description="Why, and what to use")


class SourceRead(ReadSchema):
    kind: Literal["git", "path"]
    url: str | None = None
    revision: str | None = None
    path: str | None = None


# Read from a PipelineVersion: its columns, and the properties it has for this view.
class PipelineVersionRead(ReadSchema):
    id: uuid.UUID
    pipeline_id: uuid.UUID
    version: str
    source: SourceRead
    default_params: dict[str, Any]
    profiles: list[str]
    has_params_schema: bool
    has_input_schema: bool
    deprecated: bool
    deprecated_at: datetime | None = None
    deprecation_note: str | None = None
    created_at: datetime


class PipelineRead(ReadSchema):
    id: uuid.UUID
    org_id: uuid.UUID | None = Field(description="null for catalog pipelines")
    slug: str
    name: str
    description: str | None = None
    visibility: Visibility
    from_catalog: bool
    created_at: datetime
    updated_at: datetime
    version: PipelineVersionRead | None = Field(
        default=None, description="The latest version that is not deprecated, or the one asked for"
    )

    @classmethod
    def of(cls, pipeline: Pipeline, version: PipelineVersion | None) -> PipelineRead:
        """The pipeline with the version to show beside it (the latest, or the one asked for)."""
        read = cls.model_validate(pipeline)
        read.version = PipelineVersionRead.model_validate(version) if version else None
        return read
