from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from nfhub_shared.schemas import ReadSchema, Schema

# Nextflow's own rule (SecretsHelper.checkName: letters, digits and single underscores, not
# starting with a digit nor "__", at least two characters), without look-arounds so that
# every regex engine (pydantic's, the OpenAPI reader's) agrees.
NAME_PATTERN = r"^(?:[A-Za-z]|_[A-Za-z0-9])(?:_?[A-Za-z0-9])*_?$"
NAME_RULE = (
    "letters, digits and single underscores, not starting with a digit or '__', "
    "2 to 100 characters (Nextflow's rule for secret names)"
)
MAX_SECRET_BYTES = 64 * 1024
SecretName = Annotated[
    str,
    Field(
        min_length=2,
        max_length=100,
        pattern=NAME_PATTERN,
        description=f"The name the pipeline reads as secrets.NAME: {NAME_RULE}",
        examples=["NCBI_API_KEY"],
    ),
]


def _storable(value: SecretStr) -> SecretStr:
    text = value.get_secret_value()
    if "\x00" in text:
        raise ValueError("a secret value cannot hold a NUL character")
    if len(text.encode("utf-8")) > MAX_SECRET_BYTES:
        raise ValueError(f"a secret value is at most {MAX_SECRET_BYTES} bytes")
    return value


SecretValue = Annotated[
    SecretStr,
    Field(min_length=1, description="The value; stored encrypted, never shown again"),
    AfterValidator(_storable),
]


class SecretScope(StrEnum):
    org = "org"  # every project of the org
    project = "project"  # the X-Project-ID project; wins over an org secret of the same name


class SecretCreate(Schema):
    name: SecretName
    value: SecretValue
    scope: SecretScope = Field(
        default=SecretScope.project,
        description="project (the X-Project-ID project; project admins) or org (every project "
        "of its org; org admins)",
    )


class SecretUpdate(Schema):
    value: SecretValue


class SecretRead(ReadSchema):
    """A secret as anyone is shown it: never its value."""

    id: uuid.UUID
    name: str
    scope: SecretScope
    created_at: datetime
    updated_at: datetime
    created_by: str
    updated_by: str
    overridden: bool = Field(
        default=False,
        description="An org secret this project has its own secret of the same name for: runs "
        "of this project get the project's",
    )
