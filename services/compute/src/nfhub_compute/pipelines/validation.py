"""Pipeline parameters checked against the version's ``nextflow_schema.json`` (nf-schema style).

nf-core schemas are JSON Schema 2020-12 (``$defs``) or draft-07 (``definitions``), with the
parameters grouped in definitions joined by ``allOf``. nf-schema's own keywords (``exists``,
``mimetype``, ``schema``, ``format: file-path``…) are annotations here: files are checked by the
files service, not by the validator. ``errorMessage`` replaces the validator's message, as
nf-schema does. Only local ``$ref``s are allowed: the server never fetches a schema.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator

from nfhub_compute.pipelines.errors import InvalidPipelineSchema
from nfhub_shared.errors import FieldProblem

MAX_ERRORS = 100
_COMBINATORS = ("allOf", "anyOf", "oneOf")


def _walk_refs(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield where, value
            else:
                yield from _walk_refs(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_refs(value, f"{where}/{index}")


def resolve_pointer(schema: Mapping[str, Any], ref: str) -> Any:
    """The node a local ``#/a/b`` reference points at (RFC 6901 escapes), or None."""
    if not ref.startswith("#"):
        return None
    node: Any = schema
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def params_validator(schema: Mapping[str, Any], *, what: str = "params_schema") -> Validator:
    """A validator for ``schema``; InvalidPipelineSchema says what is wrong with it."""
    if not isinstance(schema, Mapping):
        raise InvalidPipelineSchema(f"{what} must be a JSON object (a JSON Schema).")
    for where, ref in _walk_refs(schema):
        if not ref.startswith("#"):
            raise InvalidPipelineSchema(
                f"{what} refers to {ref!r} at {where}; only references inside the schema "
                "(#/...) are allowed: inline the referenced schema."
            )
        if resolve_pointer(schema, ref) is None:
            raise InvalidPipelineSchema(f"{what} refers to {ref!r} at {where}, which is missing.")
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        _check_schema(cls, schema)
    except SchemaError as exc:
        location = "/".join(str(part) for part in exc.absolute_path) or "(root)"
        raise InvalidPipelineSchema(
            f"{what} is not a valid JSON Schema at {location}: {exc.message}"
        ) from exc
    validator: Validator = cls(dict(schema))
    return validator


def _check_schema(cls: type[Validator], schema: Mapping[str, Any]) -> None:
    """``cls.check_schema``, remembered for the schemas found valid: checking a schema against
    its metaschema costs milliseconds (tens for an nf-core one), and every launch checks its
    version's schema again."""
    try:
        text = json.dumps(schema, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):  # not plain JSON: checked every time
        cls.check_schema(dict(schema))
        return
    try:
        _check_schema_text(cls, text)
    except SchemaError:  # raised again from the schema as given, its keys in their order
        cls.check_schema(dict(schema))
        raise


@lru_cache(maxsize=256)
def _check_schema_text(cls: type[Validator], text: str) -> None:
    """Raises SchemaError (not remembered: lru_cache keeps only answers)."""
    cls.check_schema(json.loads(text))


def _properties(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's own schema, from the root and the groups joined by allOf/anyOf/oneOf."""
    found: dict[str, Any] = {}
    seen_refs: set[str] = set()

    def collect(node: Any) -> None:
        if not isinstance(node, Mapping):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen_refs:
            seen_refs.add(ref)
            collect(resolve_pointer(schema, ref))
        properties = node.get("properties")
        if isinstance(properties, Mapping):
            for name, declared in properties.items():
                found.setdefault(str(name), declared)
        for combinator in _COMBINATORS:
            for branch in node.get(combinator) or []:
                collect(branch)

    collect(schema)
    return found


def with_schema_defaults(schema: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` plus the schema's defaults for those not given.

    nf-schema validates after the pipeline's config has set its defaults, and nf-core keeps
    the schema's ``default`` in step with the config: a required parameter with a default
    (sarek's ``step``) is not missing.
    """
    defaults = {
        name: declared["default"]
        for name, declared in _properties(schema).items()
        if isinstance(declared, Mapping) and "default" in declared
    }
    return {**defaults, **params}


def declared_params(schema: Mapping[str, Any]) -> set[str] | None:
    """Every parameter the schema names, or None when it accepts any (no properties at all)."""
    names = set(_properties(schema))
    # A schema that names no parameter, or lets any extra one through, takes them all.
    if not names or schema.get("additionalProperties") not in (None, False):
        return None
    return names


def _message(error: ValidationError) -> str:
    custom = error.schema.get("errorMessage") if isinstance(error.schema, Mapping) else None
    return custom if isinstance(custom, str) and error.validator != "required" else error.message


def params_problems(
    schema: Mapping[str, Any], params: Mapping[str, Any], *, field_prefix: str = "params"
) -> list[FieldProblem]:
    """Each problem of ``params`` as a problem+json field error, unknown parameters included."""
    validator = params_validator(schema)
    problems: list[FieldProblem] = []
    declared = declared_params(schema)
    if declared is not None:
        for name in sorted(set(params) - declared):
            hint = difflib.get_close_matches(name, sorted(declared), n=1)
            problems.append(
                FieldProblem(
                    f"{field_prefix}.{name}",
                    f"unknown parameter {name!r}"
                    + (f"; did you mean {hint[0]!r}?" if hint else ""),
                    "unknown_parameter",
                )
            )
    errors = sorted(validator.iter_errors(dict(params)), key=lambda e: list(map(str, e.path)))
    for error in errors:
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, Mapping):
            required = error.validator_value if isinstance(error.validator_value, list) else []
            missing = [name for name in required if name not in error.instance]
            for name in missing:
                field = ".".join(filter(None, (field_prefix, path, str(name))))
                problems.append(FieldProblem(field, f"{name!r} is required", "required"))
            continue
        problems.append(
            FieldProblem(
                ".".join(filter(None, (field_prefix, path))), _message(error), str(error.validator)
            )
        )
    return problems[:MAX_ERRORS]
