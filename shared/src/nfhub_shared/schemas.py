from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """Base of every API model: reads ORM objects, refuses unknown fields."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class ReadSchema(BaseModel):
    """Base of response models (lenient on input, they are built from ORM objects)."""

    model_config = ConfigDict(from_attributes=True)
