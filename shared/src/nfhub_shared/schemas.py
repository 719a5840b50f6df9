from __future__ import annotations

import functools
import re
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)


class Schema(BaseModel):
    """Base of every API model: reads ORM objects, refuses unknown fields, and holds scalars
    to their JSON Schema type where pydantic would convert (``_as_documented``)."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _as_documented(cls, value: Any, info: ValidationInfo) -> Any:
        # Pydantic reads true as 1 ({"size": true} started a 1-byte upload) and numbers as
        # Unix times ({"date_of_birth": 0} was 1970-01-01); the documents say integer,
        # number, date and date-time, none of which includes those.
        kind = _field_kinds(cls).get(info.field_name or "")
        if kind is None or value is None:
            return value
        if kind is date:
            if _is_number(value) or (isinstance(value, str) and not _DATE.fullmatch(value)):
                raise ValueError("expected an ISO 8601 date, such as 2026-01-31")
            return value
        if kind is datetime:
            return _iso_date_time(value)
        if isinstance(value, bool):
            raise ValueError("expected a number, not true or false")
        return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


@functools.cache
def _field_kinds(model: type[BaseModel]) -> dict[str, type]:
    """Each field whose value pydantic would convert from another JSON type: its kind."""
    kinds = {name: _kind(field.annotation) for name, field in model.model_fields.items()}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def _kind(annotation: Any) -> type | None:
    if annotation in (int, float, datetime, date):
        return date if annotation is date else (datetime if annotation is datetime else int)
    if get_origin(annotation) in (Union, UnionType, Annotated):
        if bool in get_args(annotation):  # str | int | bool: a boolean is a value it takes
            return None
        kinds = {_kind(argument) for argument in get_args(annotation)} - {None}
        return kinds.pop() if len(kinds) == 1 else None
    return None


class ReadSchema(BaseModel):
    """Base of response models (lenient on input, they are built from ORM objects)."""

    model_config = ConfigDict(from_attributes=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


class _Overlay:
    """``record``'s attributes, with ``values`` in front: what ``read_model`` validates."""

    def __init__(self, record: object, values: dict[str, Any]) -> None:
        self._record = record
        self._values = values

    def __getattr__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        return getattr(self._record, name)


def read_model(model: type[ModelT], record: object, **values: Any) -> ModelT:
    """``model`` read from ``record`` (an ORM object) plus the fields it does not carry (the
    caller's role, a count, a secret shown once), without listing the record's fields again."""
    return model.model_validate(_Overlay(record, values), from_attributes=True)


T = TypeVar("T")


def _refuse_null(value: T | None) -> T:
    if value is None:
        raise ValueError("cannot be null; leave the field out to keep the current value")
    return value


def _drop_null(schema: dict[str, Any]) -> None:
    """The field's JSON schema without its null branch and its default (left out = kept)."""
    schema.pop("default", None)
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:
        schema.update(branches[0])
    elif branches:
        schema["anyOf"] = branches


# A field of an update (PATCH) model: left out keeps the stored value, null is refused (the
# column is NOT NULL), and the OpenAPI schema offers no null. ``= None`` marks "left out".
Omittable = Annotated[T | None, AfterValidator(_refuse_null), Field(json_schema_extra=_drop_null)]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# RFC 3339 as OpenAPI's format date-time means it; the offset may be left out (UTC).
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?"
)


def _iso_date_time(value: object) -> object:
    # Pydantic also reads numbers as Unix times ("0.5" is 1970-01-01T00:00:00.5Z): a
    # client that sent one meant something else, and the document says date-time.
    if isinstance(value, str) and not _DATE_TIME.fullmatch(value):
        raise ValueError("expected an ISO 8601 date and time, such as 2026-01-31T12:00:00Z")
    if isinstance(value, (int, float)):
        raise ValueError("expected an ISO 8601 date and time string, not a number")
    return value


# A date and time a client sends (query filters, body fields): ISO 8601 text only.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_date_time)]
