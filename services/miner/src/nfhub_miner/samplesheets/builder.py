"""nf-core samplesheets from an order, built from the pipeline version's schema_input.json.

Columns come in the schema's order. Each sample gives one row per file set (lane, replicate),
or one row when it has none. A value comes from, in turn: the file set (paths, lane,
replicate, attributes), the sample and its subject through the standard nf-core columns
(sample, patient, sex, status…), the sample's properties, the subject's, then the pipeline
family's default. Values are converted to the schema's types and every row is validated as
nf-schema would (JSON Schema 2020-12 or draft-07, plus ``uniqueEntries``) before anything is
returned; a problem names the sample and the column.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import IO, TYPE_CHECKING, Any

from nfhub_miner.paths import is_external, pipeline_uri, shown_base
from nfhub_miner.samplesheets.columns import (
    FAMILY_DEFAULTS,
    SEX_TO_SHEET,
    SOMATIC_TYPES,
    TUMOUR_ROLES,
    Default,
    family_of,
)
from nfhub_miner.samplesheets.records import SheetEntry, SheetSample, SheetSubject
from nfhub_shared.errors import FieldProblem, ValidationFailed

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

MAX_PROBLEMS = 200
SPOOL_BYTES = 1024 * 1024  # kept in memory up to this, on disk beyond
CHUNK_BYTES = 64 * 1024


class SamplesheetInvalid(ValidationFailed):
    title = "The samplesheet does not match the pipeline's schema"


class SamplesheetSchemaError(ValidationFailed):
    title = "The pipeline's samplesheet schema is not usable"


def _json_type(declared: Mapping[str, Any]) -> set[str]:
    kind = declared.get("type")
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if isinstance(kind, str):
        return {kind}
    found: set[str] = set()
    for branch in declared.get("anyOf", []) + declared.get("oneOf", []):
        if isinstance(branch, Mapping):
            found |= _json_type(branch)
    return found


def convert(value: Any, declared: Mapping[str, Any]) -> Any:
    """A cell value as nf-schema reads it: typed by the column's schema when it can be."""
    if not isinstance(value, str):
        return value
    kinds = _json_type(declared)
    if "integer" in kinds and value.lstrip("-").isdigit():
        return int(value)
    if "number" in kinds:
        try:
            return float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            pass
    if "boolean" in kinds and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class SamplesheetBuilder:
    def __init__(
        self,
        schema: Mapping[str, Any],
        pipeline_slug: str,
        storage_uri: str,
        *,
        for_run: bool = False,
    ) -> None:
        items = schema.get("items") if isinstance(schema, Mapping) else None
        properties = items.get("properties") if isinstance(items, Mapping) else None
        if not isinstance(items, Mapping) or not isinstance(properties, Mapping) or not properties:
            raise SamplesheetSchemaError(
                "The pipeline's schema_input.json has no items.properties: it describes no "
                "samplesheet columns."
            )
        self.columns = [str(name) for name in properties if str(name)]
        self.declared: dict[str, Mapping[str, Any]] = {
            name: properties[name] if isinstance(properties[name], Mapping) else {}
            for name in self.columns
        }
        # jsonschema (with referencing, rpds…) at the first samplesheet, not at every start.
        from jsonschema import Draft202012Validator, validators
        from jsonschema.exceptions import SchemaError

        cls = validators.validator_for(schema, default=Draft202012Validator)
        try:
            cls.check_schema(dict(items))
        except SchemaError as exc:
            raise SamplesheetSchemaError(
                f"The pipeline's schema_input.json is not valid: {exc.message}"
            ) from exc
        self.validator: Validator = cls(dict(items))
        # Faster, same answers: each column checked by its own validator, and the row-level
        # rules (required, dependentRequired, anyOf of them…), which only look at which
        # columns are there, checked once per set of columns. Only for schemas whose parts
        # stand alone (no $ref) and whose row-level rules hold no per-column rules.
        rest = {key: value for key, value in items.items() if key != "properties"}
        text = json.dumps(dict(items))
        self.split = '"$ref"' not in text and '"properties"' not in json.dumps(rest)
        self.column_validators: dict[str, Validator] = {
            name: cls(dict(declared)) for name, declared in self.declared.items() if declared
        }
        self.shape_validator: Validator = cls(rest)
        self._shapes: dict[frozenset[str], list[tuple[str | None, str, tuple[str, ...]]]] = {}
        unique = schema.get("uniqueEntries") or items.get("uniqueEntries") or []
        self.unique = [str(column) for column in unique if isinstance(column, str)]
        self.defaults = FAMILY_DEFAULTS.get(family_of(pipeline_slug) or "", {})
        # Columns the row rules name (besides plain 'required'): their presence alone can
        # change what the row means, so no default may add them where it does not say so.
        rules = json.dumps(
            {k: v for k, v in rest.items() if k not in ("required", "type", "uniqueEntries")}
        )
        self.meaningful = {name for name in self.columns if json.dumps(name) in rules}
        self.storage_uri = storage_uri
        # A project path becomes base + path, without parsing the URI again for each of (maybe)
        # tens of thousands of files: the resolved file only in the copy the run reads, the
        # project path (or the S3 URI) in what users download.
        self.storage_base = pipeline_uri(storage_uri, "") if for_run else shown_base(storage_uri)
        self._seen: dict[tuple[Any, ...], str] = {}
        self.problems: list[FieldProblem] = []
        self.rows_written = 0

    # -- values ---------------------------------------------------------------------------------

    def _standard(
        self, column: str, role: str, sample: SheetSample, subject: SheetSubject | None
    ) -> Any:
        if column == "sample":
            return sample.display_id
        if column in ("patient", "subject"):
            return subject.display_id if subject is not None else None
        if column == "sex":
            return SEX_TO_SHEET.get(subject.sex, "NA") if subject is not None else None
        if column == "status":
            if role in TUMOUR_ROLES:
                return 1
            if role != "sample":
                return 0
            return 1 if sample.sample_type in SOMATIC_TYPES else 0
        if column == "barcode":
            return sample.barcode
        return None

    def _default(self, column: str, paths: Mapping[str, Any]) -> str | None:
        default: Default | None = self.defaults.get(column)
        if default is None:
            return None
        if default.only_with:
            return default.value if not default.only_with.isdisjoint(paths) else None
        return None if column in self.meaningful else default.value

    def row(
        self,
        role: str,
        sample: SheetSample,
        subject: SheetSubject | None,
        file_set: Mapping[str, Any],
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        paths = file_set.get("paths", {})
        attributes = file_set.get("attributes", {})
        for column in self.columns:
            value: Any = None
            if column in paths:
                path = paths[column]
                value = path if is_external(path) else self.storage_base + path
            elif column in ("lane", "replicate") and file_set.get(column) is not None:
                value = file_set[column]
            elif column in attributes:
                value = attributes[column]
            else:
                value = self._standard(column, role, sample, subject)
                if value is None and column in sample.properties:
                    value = sample.properties[column]
                if value is None and subject is not None and column in subject.properties:
                    value = subject.properties[column]
                if value is None:
                    value = self._default(column, paths)
            if value is not None and value != "":
                values[column] = convert(
                    cell(value) if isinstance(value, str) else value, self.declared[column]
                )
        return values

    def rows_of(
        self, role: str, sample: SheetSample, subject: SheetSubject | None
    ) -> Iterator[dict[str, Any]]:
        for file_set in sample.files or [{}]:
            yield self.row(role, sample, subject, file_set)

    # -- checks ---------------------------------------------------------------------------------

    def check(self, values: Mapping[str, Any], sample: str, row: int | None = None) -> None:
        if len(self.problems) >= MAX_PROBLEMS:
            return
        if self.split:
            self._check_split(values, sample, row)
        else:
            for column, message, columns in self._errors(self.validator, dict(values)):
                self._problem(sample, column, message, row, columns)
        self._check_unique(values, sample, row)

    def _check_split(self, values: Mapping[str, Any], sample: str, row: int | None) -> None:
        shape = frozenset(values)
        found = self._shapes.get(shape)
        if found is None:
            # Cached for every row with these columns: the messages must hold nothing of the
            # row's values, or every sample would be shown the first one's.
            found = self._shapes[shape] = list(self._errors(self.shape_validator, dict(values)))
        for column, message, columns in found:
            self._problem(sample, column, message, row, columns)
        for column, value in values.items():
            validator = self.column_validators.get(column)
            if validator is None:
                continue
            for error in validator.iter_errors(value):
                custom = self.declared[column].get("errorMessage")
                message = custom if isinstance(custom, str) else error.message
                self._problem(sample, column, message, row, (column,))

    @staticmethod
    def _errors(
        validator: Validator, values: dict[str, Any]
    ) -> Iterator[tuple[str | None, str, tuple[str, ...]]]:
        for error in validator.iter_errors(values):
            column: str | None = ".".join(str(p) for p in error.absolute_path) or None
            message = error.message
            columns: tuple[str, ...] = (column,) if column else ()
            if error.validator == "required" and isinstance(error.instance, Mapping):
                required = error.validator_value if isinstance(error.validator_value, list) else []
                missing = [c for c in required if c not in error.instance]
                column = missing[0] if missing else None
                columns = tuple(missing)
                message = f"{column!r} is required and has no value"
            elif isinstance(error.schema, Mapping) and isinstance(
                error.schema.get("errorMessage"), str
            ):
                message = str(error.schema["errorMessage"])
            elif error.validator in ("anyOf", "oneOf"):
                column, message, columns = _alternatives(error, values)
            elif error.validator == "dependentRequired" and isinstance(
                error.validator_value, Mapping
            ):
                column = next((str(c) for c in error.validator_value if c in values), column)
                columns = tuple(
                    str(c)
                    for need in error.validator_value.get(column, [])
                    for c in ([need] if isinstance(need, str) else [])
                    if c not in values
                )
                message = (
                    f"{column!r} needs {' and '.join(repr(c) for c in columns)} as well"
                    if columns
                    else message
                )
            yield column, message, columns

    def _check_unique(self, values: Mapping[str, Any], sample: str, row: int | None) -> None:
        if self.unique:
            key = tuple(values.get(column) for column in self.unique)
            earlier = self._seen.get(key)
            if earlier is not None:
                shown = ", ".join(f"{c}={v}" for c, v in zip(self.unique, key, strict=True))
                self._problem(
                    sample,
                    self.unique[-1],
                    f"the combination {shown} is already used by sample {earlier}; "
                    f"{'/'.join(self.unique)} must be unique",
                    row,
                    tuple(self.unique),
                )
            else:
                self._seen[key] = sample

    def _problem(
        self,
        sample: str,
        column: str | None,
        message: str,
        row: int | None = None,
        columns: tuple[str, ...] = (),
    ) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(
                FieldProblem(
                    column,
                    message,
                    "samplesheet",
                    location="samplesheet",
                    context={
                        "sample": sample,
                        "row": row,
                        "column": column,
                        "columns": list(columns or ((column,) if column else ())),
                    },
                )
            )

    def raise_if_invalid(self) -> None:
        if self.problems:
            shown = "; ".join(
                f"row {p.context['row']} ({p.context['sample']}, {p.field or '-'}): {p.message}"
                for p in self.problems[:3]
            )
            raise SamplesheetInvalid(
                f"{len(self.problems)} problem(s) for the pipeline's samplesheet: {shown}. Fix "
                f"the samples (or their files) and ask again.",
                errors=self.problems,
            )

    # -- output ---------------------------------------------------------------------------------

    async def write(
        self,
        batches: AsyncIterator[list[SheetEntry]],
        file_format: str,
    ) -> IO[bytes]:
        """Build, check and write the whole sheet to a spooled file (memory up to 1 MiB, disk
        beyond); raises SamplesheetInvalid listing the problems, before anything is sent."""
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        try:
            text = io.TextIOWrapper(spool, encoding="utf-8", newline="", write_through=True)
            writer = None
            if file_format == "json":
                text.write("[")
            else:
                writer = csv.writer(
                    text, delimiter="\t" if file_format == "tsv" else ",", lineterminator="\n"
                )
                writer.writerow(self.columns)
            first = True
            async for batch in batches:
                for role, sample, subject in batch:
                    for values in self.rows_of(role, sample, subject):
                        self.check(values, sample.display_id, self.rows_written + 1)
                        if writer is not None:
                            writer.writerow([cell(values.get(column)) for column in self.columns])
                        else:
                            text.write(
                                ("\n  " if first else ",\n  ")
                                + json.dumps(values, ensure_ascii=False)
                            )
                            first = False
                        self.rows_written += 1
            if file_format == "json":
                text.write("\n]\n")
            text.flush()
            text.detach()
            self.raise_if_invalid()
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool


def _alternatives(error: Any, values: Mapping[str, Any]) -> tuple[str | None, str, tuple[str, ...]]:
    """An anyOf/oneOf failure in the user's columns: which columns would satisfy a branch."""
    options: list[str] = []
    for sub in error.context or []:
        if sub.validator in ("dependentRequired", "required"):
            needs = sub.validator_value
            wanted = (
                [c for key in needs if key in values for c in needs[key]]
                if isinstance(needs, Mapping)
                else list(needs)
            )
            options += [str(c) for c in wanted if c not in values and str(c) not in options]
    present = sorted(
        {str(key) for sub in error.context or [] if isinstance(sub.validator_value, Mapping)
         for key in sub.validator_value if key in values}
    )  # fmt: skip
    column = present[0] if present else (options[0] if options else None)
    if options:
        given = f"with {', '.join(repr(c) for c in present)} " if present else ""
        message = f"a row {given}needs one of these columns: {', '.join(options)}"
    else:
        message = "the row matches none of the schema's alternatives"
    return column, message, tuple(options)


async def chunks(spool: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while block := spool.read(CHUNK_BYTES):
            yield block
    finally:
        spool.close()
