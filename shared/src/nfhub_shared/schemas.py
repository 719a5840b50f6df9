from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Base of every API model: reads ORM objects, refuses unknown fields."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


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
