from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from nfhub_miner.fields import DisplayId, PastDate, Properties, Tags
from nfhub_shared.schemas import Omittable, ReadSchema, Schema, read_model

if TYPE_CHECKING:
    from nfhub_miner.models import Subject

Sex = Literal["male", "female", "other", "unknown"]


class SubjectCreate(Schema):
    display_id: DisplayId
    sex: Sex = "unknown"
    date_of_birth: PastDate = None
    external_id: str | None = Field(default=None, max_length=200)
    diagnosis: str | None = Field(default=None, max_length=5000)
    tags: Tags = Field(default_factory=list)
    properties: Properties = Field(default_factory=dict)


class SubjectUpdate(Schema):
    display_id: Omittable[DisplayId] = None
    sex: Omittable[Sex] = None
    date_of_birth: PastDate = None
    external_id: str | None = Field(default=None, max_length=200)
    diagnosis: str | None = Field(default=None, max_length=5000)
    tags: Omittable[Tags] = None
    properties: Omittable[Properties] = None


class SubjectRead(ReadSchema):
    id: uuid.UUID
    display_id: str
    sex: Sex
    date_of_birth: date | None = None
    external_id: str | None = None
    diagnosis: str | None = None
    tags: list[str]
    properties: dict[str, Any]
    sample_count: int | None = Field(default=None, description="On single reads")
    created_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, subject: Subject, sample_count: int | None = None) -> SubjectRead:
        return read_model(cls, subject, sample_count=sample_count)


class SubjectDeleted(ReadSchema):
    id: uuid.UUID
    samples_deleted: int
