"""From a form's text to an API's JSON, and the API's field errors back to the form's fields.

Only translation happens here: text that is not what its field takes (a properties box that is
not JSON) goes to the API as it is, for the API to say what is wrong with it beside the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nfhub_web.apis import ApiProblem

# Longest text any field of a form keeps (the APIs' own limits are far below it).
MAX_FIELD_CHARS = 100_000
TAG_SEPARATORS = re.compile(r"[\s,]+")


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip()[:MAX_FIELD_CHARS] if isinstance(value, str) else ""


def optional(value: str) -> str | None:
    """An empty field is no value (null: clears the field on an edit)."""
    return value or None


def tags(value: str) -> list[str]:
    """Tags as typed: separated by spaces or commas."""
    return [tag for tag in TAG_SEPARATORS.split(value) if tag]


def read_json(value: str) -> Any:
    """``json.loads``, with text nested deeper than the parser goes (``[[[[…``, which it
    answers with RecursionError) refused as not JSON, like any other text it cannot read."""
    try:
        return json.loads(value)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def json_value(value: str, empty: Any) -> Any:
    """The JSON a box holds; ``empty`` when it is empty; the text itself when it is not JSON
    (the API refuses it beside the field)."""
    if not value:
        return empty
    try:
        return read_json(value)
    except ValueError:
        return value


def pretty(value: Any) -> str:
    """JSON as a box shows it again (an empty object or list shows as nothing)."""
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


@dataclass(frozen=True)
class FormErrors:
    """An API's refusal, by the form field it names; what names no field of the form goes
    above the form."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, problem: ApiProblem | None, fields: Iterable[str], *, items: str | None = None
    ) -> FormErrors:
        """``items``: the request's list one form fills each item of alike (an order's
        ``samples``: ``samples.1.role`` is the form's role field's)."""
        if problem is None:
            return cls()
        names = set(fields)
        by_field: dict[str, list[str]] = {}
        general: list[str] = []
        for error in problem.errors:
            name = error.field or ""
            if items is not None and name.startswith(items + "."):
                index, _, rest = name.removeprefix(items + ".").partition(".")
                if index.isdigit() and rest:
                    name = rest
            # "files.0.paths.fastq_1" is the files box's; the path says where in it.
            top = name.split(".", 1)[0]
            if top in names:
                message = error.message
                if name != top:
                    message = f"{name}: {message}"
                if message not in by_field.get(top, []):
                    by_field.setdefault(top, []).append(message)
            else:
                general.append(f"{error.field}: {error.message}" if error.field else error.message)
        return cls(by_field, general)

    def __contains__(self, name: object) -> bool:
        return name in self.by_field

    def get(self, name: str) -> list[str]:
        return self.by_field.get(name, [])
