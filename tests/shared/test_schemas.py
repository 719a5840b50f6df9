"""The shared field types: what the OpenAPI schema offers is what validation accepts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from nfhub_shared.schemas import IsoDateTime, Omittable, Schema


class Rename(Schema):
    name: Omittable[Annotated[str, Field(min_length=1)]] = None
    size: Omittable[int] = None


class TestOmittable:
    def test_left_out_is_none_and_a_value_is_kept(self) -> None:
        assert Rename().model_dump(exclude_unset=True) == {}
        assert Rename(name="x").name == "x"

    @pytest.mark.parametrize("body", [{"name": None}, {"size": None}, {"name": ""}])
    def test_null_and_constraint_violations_are_refused(self, body: dict[str, Any]) -> None:
        with pytest.raises(ValidationError) as caught:
            Rename.model_validate(body)
        # One error naming the field, not one per branch of a union.
        assert [error["loc"] for error in caught.value.errors()] == [(next(iter(body)),)]

    def test_the_schema_offers_no_null(self) -> None:
        properties = Rename.model_json_schema()["properties"]
        assert properties["name"] == {"type": "string", "minLength": 1, "title": "Name"}
        assert properties["size"] == {"type": "integer", "title": "Size"}


class TestIsoDateTime:
    adapter = TypeAdapter(IsoDateTime)

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-01-31T12:00:00Z", datetime(2026, 1, 31, 12, tzinfo=UTC)),
            ("2026-01-31T12:00:00.5+00:00", datetime(2026, 1, 31, 12, 0, 0, 500000, UTC)),
            ("2026-01-31 12:00+0100", datetime(2026, 1, 31, 11, tzinfo=UTC)),
        ],
    )
    def test_iso_8601_is_read(self, text: str, expected: datetime) -> None:
        assert self.adapter.validate_python(text) == expected

    @pytest.mark.parametrize("value", ["0.5", "1700000000", "2026-01-31", "yesterday", 0.5, 17])
    def test_numbers_and_dates_without_time_are_refused(self, value: object) -> None:
        # Pydantic alone reads numbers as Unix times: 0.5 was 1970-01-01T00:00:00.5Z.
        with pytest.raises(ValidationError):
            self.adapter.validate_python(value)


class Upload(Schema):
    size: int
    part_size: Annotated[int | None, Field(ge=1)] = None
    ratio: float = 0.5
    overwrite: bool = False
    born: date | None = None
    due: datetime | None = None
    scalar: str | int | bool | None = None


class TestScalarsAsDocumented:
    @pytest.mark.parametrize(
        "body",
        [
            {"size": True},
            {"size": 1, "part_size": False},
            {"size": 1, "ratio": True},
            # Pydantic alone reads numbers as Unix times: 0 was 1970-01-01.
            {"size": 1, "born": 0},
            {"size": 1, "born": "0"},
            {"size": 1, "born": "2026-01-31T00:00:00"},
            {"size": 1, "due": 0.5},
            {"size": 1, "due": "1700000000"},
        ],
    )
    def test_what_the_schema_type_excludes_is_refused(self, body: dict[str, Any]) -> None:
        with pytest.raises(ValidationError) as caught:
            Upload.model_validate(body)
        assert caught.value.errors()[0]["loc"] == (list(body)[-1],)

    def test_values_of_the_documented_types_are_read(self) -> None:
        upload = Upload.model_validate(
            {"size": 2, "part_size": None, "overwrite": True, "born": "2000-02-29"}
        )
        assert (upload.size, upload.part_size, upload.overwrite) == (2, None, True)
        assert upload.born == date(2000, 2, 29)
        assert Upload.model_validate({"size": 1, "scalar": True}).scalar is True
