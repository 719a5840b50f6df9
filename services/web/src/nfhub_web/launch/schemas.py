"""A launch form from a pipeline's nextflow_schema.json (nf-schema): its groups as sections,
help text, enums as choices, defaults filled, required marked, hidden parameters apart; and the
form's answers back into parameters. No rule is checked here: compute validates the params
against the same schema and its errors are shown beside the fields they name."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Parameters nfhub sets itself (compute refuses them in params): not on the form.
RESERVED_PARAMS = frozenset({"input", "outdir"})
INTEGER = re.compile(r"^-?\d+$")
NUMBER = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
# What compute takes as a pipeline version (its VERSION_PATTERN): no '/', '?', '#', nor a
# '..' segment, so that a version put in compute's URL path stays one segment of it.
VERSION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,98}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class ParamField:
    name: str
    kind: str  # string | integer | number | boolean
    title: str
    description: str | None = None
    help_text: str | None = None
    choices: tuple[str, ...] = ()
    default: Any = None
    required: bool = False
    hidden: bool = False

    @property
    def default_text(self) -> str:
        if self.default is None:
            return ""
        if isinstance(self.default, bool):
            return "true" if self.default else "false"
        return str(self.default)


@dataclass(frozen=True)
class ParamGroup:
    title: str
    description: str | None
    fields: list[ParamField] = field(default_factory=list)

    @property
    def shown(self) -> list[ParamField]:
        return [f for f in self.fields if not f.hidden]

    @property
    def hidden(self) -> list[ParamField]:
        return [f for f in self.fields if f.hidden]


def _kind(spec: Mapping[str, Any]) -> str:
    kind = spec.get("type")
    if isinstance(kind, list):  # ["string", "null"]
        kind = next((k for k in kind if k != "null"), "string")
    return kind if kind in ("integer", "number", "boolean") else "string"


def _field(name: str, spec: Mapping[str, Any], required: bool) -> ParamField:
    enum = spec.get("enum")
    return ParamField(
        name=name,
        kind=_kind(spec),
        title=str(spec.get("title") or name),
        description=spec.get("description") if isinstance(spec.get("description"), str) else None,
        help_text=spec.get("help_text") if isinstance(spec.get("help_text"), str) else None,
        choices=tuple(str(v) for v in enum) if isinstance(enum, list) else (),
        default=spec.get("default"),
        required=required,
        hidden=spec.get("hidden") is True,
    )


def _group(title: str, description: Any, block: Mapping[str, Any]) -> ParamGroup:
    properties = block.get("properties")
    required = set(block.get("required") or [])
    fields = [
        _field(name, spec, name in required)
        for name, spec in (properties.items() if isinstance(properties, Mapping) else ())
        if name not in RESERVED_PARAMS and isinstance(spec, Mapping)
    ]
    return ParamGroup(title, description if isinstance(description, str) else None, fields)


def form_from_schema(schema: Mapping[str, Any]) -> list[ParamGroup]:
    """The groups of a schema in its own order (``allOf`` references first, then any group
    it does not reference); parameters outside any group last. Empty groups are left out."""
    definitions = schema.get("$defs") or schema.get("definitions") or {}
    if not isinstance(definitions, Mapping):
        definitions = {}
    order: list[str] = []
    for item in schema.get("allOf") or []:
        ref = item.get("$ref") if isinstance(item, Mapping) else None
        if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in definitions:
            order.append(ref.rsplit("/", 1)[-1])
    order += [name for name in definitions if name not in order]
    groups = [
        _group(str(block.get("title") or name), block.get("description"), block)
        for name in order
        if isinstance(block := definitions[name], Mapping)
    ]
    if isinstance(schema.get("properties"), Mapping):
        groups.append(_group("Other parameters", None, schema))
    return [group for group in groups if group.fields]


def input_required(schema: Mapping[str, Any]) -> bool:
    """Whether the schema requires ``input`` (the samplesheet, which nfhub sets from the
    form's file or order), at its top or in one of its groups."""
    definitions = schema.get("$defs") or schema.get("definitions") or {}
    blocks = [schema, *(definitions.values() if isinstance(definitions, Mapping) else ())]
    return any(
        isinstance(block, Mapping)
        and isinstance(block.get("required"), list)
        and "input" in block["required"]
        for block in blocks
    )


def _number(raw: str, kind: str) -> int | float | None:
    """``raw`` as an integer or number field's JSON value; None when it is not one JSON can
    carry (more digits than int() reads, or a float that overflows to infinity)."""
    try:
        if INTEGER.match(raw):
            return int(raw)
        if kind == "number" and NUMBER.match(raw):
            value = float(raw)
            return value if math.isfinite(value) else None
    except ValueError:  # past int()'s limit on digits
        return None
    return None


def params_from_form(groups: list[ParamGroup], form: Mapping[str, str]) -> dict[str, Any]:
    """The parameters the user set: empty fields left out (the pipeline's default applies),
    numbers and booleans as JSON values; text that is not a number stays text, for compute to
    say what is wrong with it beside the field."""
    params: dict[str, Any] = {}
    for group in groups:
        for param in group.fields:
            raw = form.get(param.name, "").strip()
            if not raw:
                continue
            if param.kind in ("integer", "number"):
                number = _number(raw, param.kind)
                params[param.name] = raw if number is None else number
            elif param.kind == "boolean" and raw in ("true", "false"):
                params[param.name] = raw == "true"
            else:
                params[param.name] = raw
    return params
