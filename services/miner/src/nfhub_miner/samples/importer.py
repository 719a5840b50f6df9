"""Bulk import: a samplesheet CSV (or JSON lines) into subjects and samples, all or nothing.

Rows are grouped by their ``sample`` column: one sample, one file set per row. Any problem
anywhere is a 422 listing each row and column at fault, and nothing is written.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nfhub_miner.compute_client import ComputeClient
from nfhub_miner.models import Subject
from nfhub_miner.paths import is_external
from nfhub_miner.samples.errors import ImportFailed
from nfhub_miner.samples.schemas import FileSet, ImportResult, SampleCreate, SubjectBrief
from nfhub_miner.samples.service import SampleService, new_sample, project_paths
from nfhub_miner.samplesheets.builder import SamplesheetBuilder
from nfhub_miner.samplesheets.columns import (
    FILE_ROLES,
    FILE_SET_COLUMNS,
    SAMPLE_COLUMNS,
    SAMPLE_FIELDS,
    SEX_FROM_SHEET,
    STATUS_FROM_SHEET,
    SUBJECT_COLUMNS,
    SUBJECT_FIELDS,
    TAG_SEPARATORS,
)
from nfhub_miner.samplesheets.records import SheetSample, SheetSubject
from nfhub_miner.subjects.schemas import SubjectCreate
from nfhub_miner.subjects.service import new_subject
from nfhub_shared.errors import FieldProblem

MAX_ERRORS = 200
Row = dict[str, Any]


@dataclass
class Problems:
    items: list[FieldProblem] = field(default_factory=list)

    def add(
        self, row: int, message: str, *, sample: str | None = None, column: str | None = None
    ) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append(
                FieldProblem(
                    column,
                    message,
                    "import",
                    location="sheet",
                    context={"row": row, "sample": sample, "column": column},
                )
            )

    def raise_if_any(self, rows: int) -> None:
        if self.items:
            shown = "; ".join(
                f"row {p.context['row']}" + (f" ({p.field})" if p.field else "") + f": {p.message}"
                for p in self.items[:3]
            )
            raise ImportFailed(
                f"{len(self.items)} problem(s) in {rows} row(s), nothing was imported: {shown}.",
                errors=self.items,
            )


def parse_csv(text: str, problems: Problems) -> list[tuple[int, Row]]:
    """Rows of a CSV, TSV or semicolon-separated sheet (the header says which), 1-based."""
    header_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=header_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        problems.add(0, "the sheet is empty; it needs a header row and at least one row")
        return []
    except csv.Error as exc:
        problems.add(0, f"the header cannot be read: {exc}")
        return []
    if len(set(header)) != len(header) or "" in header:
        problems.add(0, "the header has an empty or repeated column name")
        return []
    rows: list[tuple[int, Row]] = []
    number = 0
    try:
        for values in reader:
            number += 1
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(header):
                problems.add(number, f"{len(values)} values for {len(header)} columns")
                continue
            rows.append((number, {k: v.strip() for k, v in zip(header, values, strict=True)}))
    except csv.Error as exc:
        problems.add(number + 1, f"the sheet cannot be read: {exc}")
    return rows


def parse_jsonl(text: str, problems: Problems) -> list[tuple[int, Row]]:
    rows: list[tuple[int, Row]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            problems.add(number, f"not JSON: {exc}")
            continue
        if not isinstance(value, dict) or any(isinstance(v, dict | list) for v in value.values()):
            problems.add(number, "each line must be one flat JSON object (column: value)")
            continue
        rows.append((number, {str(k): "" if v is None else v for k, v in value.items()}))
    return rows


def decode(body: bytes, problems: Problems) -> str:
    try:
        return body.decode("utf-8-sig")  # a BOM from Excel is dropped
    except UnicodeDecodeError as exc:
        problems.add(0, f"the sheet is not UTF-8 (byte {exc.start}); save it as UTF-8")
        return ""


@dataclass
class SampleDraft:
    display_id: str
    rows: list[int]
    # The columns the user named the sample and the patient with: errors speak in them.
    sample_column: str = "sample"
    subject_column: str = "patient"
    lanes: dict[str, int] = field(default_factory=dict)
    subject: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    subject_fields: dict[str, Any] = field(default_factory=dict)
    # Row by row: (row number, its file set, its other columns).
    units: list[tuple[int, dict[str, Any], Row]] = field(default_factory=list)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def group(rows: list[tuple[int, Row]], problems: Problems) -> list[SampleDraft]:
    drafts: dict[str, SampleDraft] = {}
    for number, row in rows:
        sample_column = next((c for c in SAMPLE_COLUMNS if _text(row.get(c))), None)
        if sample_column is None:
            problems.add(number, "no sample name", column="sample")
            continue
        name = _text(row[sample_column])
        subject_column = next((c for c in SUBJECT_COLUMNS if _text(row.get(c))), "patient")
        draft = drafts.setdefault(
            name, SampleDraft(name, [], sample_column=sample_column, subject_column=subject_column)
        )
        draft.rows.append(number)
        subject = _text(row[subject_column]) or None if subject_column in row else None
        _same(draft, "subject", subject, number, problems, draft.subject_column)
        file_set: dict[str, Any] = {"paths": {}}
        extra: Row = {}
        for column, raw in row.items():
            value = _text(raw)
            if column in SAMPLE_COLUMNS or column in SUBJECT_COLUMNS or value == "":
                continue
            if column in FILE_ROLES:
                file_set["paths"][column] = value
            elif column in FILE_SET_COLUMNS:
                file_set[column] = value
            elif column in SAMPLE_FIELDS:
                _field(draft.fields, column, value, draft, number, problems)
            elif column in SUBJECT_FIELDS:
                _field(draft.subject_fields, column, value, draft, number, problems)
            else:
                extra[column] = raw if isinstance(raw, int | float | bool) else value
        if not file_set["paths"] and len(file_set) > 1:
            problems.add(number, "lane or replicate without any file", sample=name)
        lane = file_set.get("lane")
        if lane is not None:
            # nf-core pipelines with lanes (sarek) refuse a patient/sample/lane twice.
            earlier = draft.lanes.setdefault(lane, number)
            if earlier != number:
                problems.add(
                    number,
                    f"lane {lane!r} of sample {name} is already on row {earlier}; each lane of "
                    f"a sample must differ (patient/sample/lane are unique in a samplesheet)",
                    sample=name,
                    column="lane",
                )
        draft.units.append((number, file_set, extra))
    return list(drafts.values())


def _same(
    draft: SampleDraft, name: str, value: Any, row: int, problems: Problems, column: str
) -> None:
    current = getattr(draft, name)
    if current is None:
        setattr(draft, name, value)
    elif value is not None and value != current:
        problems.add(
            row,
            f"{value!r} differs from {current!r} on an earlier row of this sample",
            sample=draft.display_id,
            column=column,
        )


def _field(
    target: dict[str, Any],
    column: str,
    value: str,
    draft: SampleDraft,
    row: int,
    problems: Problems,
) -> None:
    if column in target and target[column] != value:
        problems.add(
            row,
            f"{value!r} differs from {target[column]!r} on an earlier row of this sample",
            sample=draft.display_id,
            column=column,
        )
    target[column] = value


def _split_extra(draft: SampleDraft) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Columns with one value on every row of the sample are its properties; the others are
    attributes of each row's file set (their file sets, with the attributes in)."""
    extras = [extra for _, _, extra in draft.units]
    columns = {column for extra in extras for column in extra}
    constant = {
        column for column in columns if len({json.dumps(e.get(column)) for e in extras}) == 1
    }
    properties = {column: extras[0][column] for column in sorted(constant)}
    file_sets = []
    for _, file_set, extra in draft.units:
        attributes = {column: value for column, value in extra.items() if column not in constant}
        if file_set["paths"]:
            file_sets.append({**file_set, "attributes": attributes})
    return properties, file_sets


def _pydantic_problems(exc: ValidationError, draft: SampleDraft, problems: Problems) -> None:
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        column = location[0] if location else None
        if column == "display_id":
            column = draft.sample_column
        row = draft.rows[0]
        if column == "files" and len(location) > 1 and location[1].isdigit():
            rows = [number for number, file_set, _ in draft.units if file_set["paths"]]
            row = rows[min(int(location[1]), len(rows) - 1)]
            column = location[3] if len(location) > 3 else "files"
        problems.add(row, str(error["msg"]), sample=draft.display_id, column=column)


def build(
    drafts: list[SampleDraft], problems: Problems
) -> list[tuple[SampleDraft, SampleCreate, SubjectCreate | None]]:
    built = []
    for draft in drafts:
        properties, file_sets = _split_extra(draft)
        fields = dict(draft.fields)
        status = fields.pop("status", None)
        if status is not None:
            if status not in STATUS_FROM_SHEET:
                problems.add(
                    draft.rows[0],
                    f"status {status!r} is neither 0 (normal) nor 1 (tumour)",
                    sample=draft.display_id,
                    column="status",
                )
            elif "sample_type" not in fields:
                fields["sample_type"] = STATUS_FROM_SHEET[status]
        if "tags" in fields:
            for separator in TAG_SEPARATORS:
                fields["tags"] = fields["tags"].replace(separator, " ")
            fields["tags"] = fields["tags"].split()
        try:
            sample = SampleCreate.model_validate(
                {
                    "display_id": draft.display_id,
                    **fields,
                    "properties": properties,
                    "files": file_sets,
                }
            )
        except ValidationError as exc:
            _pydantic_problems(exc, draft, problems)
            continue
        subject = None
        if draft.subject is not None:
            subject_values = dict(draft.subject_fields)
            sex = subject_values.pop("sex", None)
            external = subject_values.pop("subject_external_id", None)
            try:
                subject = SubjectCreate.model_validate(
                    {
                        "display_id": draft.subject,
                        **subject_values,
                        **({"sex": SEX_FROM_SHEET.get(sex, sex)} if sex else {}),
                        **({"external_id": external} if external else {}),
                    }
                )
            except ValidationError as exc:
                for error in exc.errors():
                    column = str(error["loc"][0]) if error["loc"] else None
                    if column == "display_id":
                        column = draft.subject_column
                    problems.add(
                        draft.rows[0],
                        f"subject: {error['msg']}",
                        sample=draft.display_id,
                        column=column,
                    )
                continue
        elif draft.subject_fields:
            problems.add(
                draft.rows[0],
                "subject fields given without a patient/subject column",
                sample=draft.display_id,
                column=next(iter(draft.subject_fields)),
            )
        built.append((draft, sample, subject))
    return built


def check_for_pipeline(
    builder: SamplesheetBuilder,
    built: Iterable[tuple[SampleDraft, SampleCreate, SubjectCreate | None]],
    problems: Problems,
) -> None:
    """What export for this pipeline would refuse, said now, row by row, in the sheet's
    columns (duplicate patient/sample/lane, a lane on a CRAM row…)."""
    for draft, sample, subject in built:
        sheet_sample = SheetSample(
            draft.display_id,
            sample.sample_type,
            sample.barcode,
            sample.properties,
            [file_set.model_dump(mode="json") for file_set in sample.files],
        )
        sheet_subject = (
            SheetSubject(subject.display_id, subject.sex, subject.properties)
            if subject is not None
            else None
        )
        rows = [number for number, file_set, _ in draft.units if file_set["paths"]] or draft.rows
        entries = builder.rows_of("sample", sheet_sample, sheet_subject)
        for row, values in zip(rows, entries, strict=False):
            builder.check(values, draft.display_id, row)
    for problem in builder.problems:
        column = problem.field
        if column == "sample":
            column = next((d.sample_column for d, _, _ in built), column)
        problems.add(
            int(problem.context.get("row") or 0),
            problem.message,
            sample=problem.context.get("sample"),
            column=column,
        )


class SampleImporter:
    def __init__(
        self,
        samples: SampleService,
        *,
        max_rows: int,
        compute: ComputeClient | None = None,
        pipeline: str | None = None,
    ) -> None:
        self.service = samples
        self.max_rows = max_rows
        self.compute = compute
        self.pipeline = pipeline

    async def _builder(self) -> SamplesheetBuilder | None:
        if self.compute is None or self.pipeline is None:
            return None
        token, project_id = self.service.caller_token, self.service.access.project_id
        found = await self.compute.pipeline(token, project_id, self.pipeline, None)
        version = str((found.get("version") or {}).get("version") or "")
        if not version:
            return None
        schema = await self.compute.input_schema(token, project_id, self.pipeline, version)
        return SamplesheetBuilder(schema, self.pipeline, "file:///")

    async def run(self, body: bytes, file_format: str) -> ImportResult:
        problems = Problems()
        text = decode(body, problems)
        if not text.strip() and not problems.items:
            problems.add(0, "the sheet is empty; it needs a header row and at least one row")
        rows = (
            (parse_jsonl if file_format == "jsonl" else parse_csv)(text, problems) if text else []
        )
        if len(rows) > self.max_rows:
            problems.add(self.max_rows + 1, f"at most {self.max_rows} rows per import")
        problems.raise_if_any(len(rows))
        if not rows:
            problems.add(0, "no rows to import")
            problems.raise_if_any(0)
        built = build(group(rows, problems), problems)
        builder = await self._builder()
        if builder is not None:
            check_for_pipeline(builder, built, problems)
        access = self.service.access
        session = self.service.session
        existing = await self.service.samples.existing_display_ids(
            access.project_id, [sample.display_id for _, sample, _ in built]
        )
        for draft, sample, _ in built:
            if sample.display_id in existing:
                problems.add(
                    draft.rows[0],
                    "the project already has this sample",
                    sample=sample.display_id,
                    column="sample",
                )
        subjects = await self.service.subjects.by_display_ids(
            access.project_id, list({s.display_id for _, _, s in built if s is not None})
        )
        new_subjects: dict[str, Subject] = {}
        first_seen: dict[str, tuple[SubjectCreate, int]] = {}
        for draft, _, subject in built:
            if subject is None:
                continue
            earlier = first_seen.setdefault(subject.display_id, (subject, draft.rows[0]))
            for name in ("sex", "date_of_birth", "diagnosis", "external_id"):
                if getattr(subject, name) != getattr(earlier[0], name):
                    problems.add(
                        draft.rows[0],
                        f"patient {subject.display_id} has another {name} on row {earlier[1]}",
                        sample=draft.display_id,
                        column="subject_external_id" if name == "external_id" else name,
                    )
            known = subjects.get(subject.display_id)
            if known is not None and subject.sex != "unknown" and known.sex != subject.sex:
                problems.add(
                    draft.rows[0],
                    f"subject {known.display_id} is {known.sex}, not {subject.sex}",
                    sample=draft.display_id,
                    column="sex",
                )
            if known is None and subject.display_id not in new_subjects:
                new_subjects[subject.display_id] = new_subject(access, subject)
        await self._check_files(built, problems)
        problems.raise_if_any(len(rows))

        await self.service.subjects.add_counted(list(new_subjects.values()))
        subjects.update(new_subjects)
        samples = [
            new_sample(
                access, sample_create, subjects[subject.display_id] if subject is not None else None
            )
            for _, sample_create, subject in built
        ]
        await self.service.samples.add_counted(samples)
        await self.service.audit.record_in_project(
            session,
            access,
            "sample.import",
            "sample",
            None,
            {"rows": len(rows), "samples": len(samples), "subjects": len(new_subjects)},
        )
        return ImportResult(
            rows=len(rows),
            samples_created=len(samples),
            subjects_created=len(new_subjects),
            samples=[SubjectBrief.model_validate(sample) for sample in samples],
        )

    async def _check_files(
        self,
        built: Iterable[tuple[SampleDraft, SampleCreate, SubjectCreate | None]],
        problems: Problems,
    ) -> None:
        built = list(built)
        paths = project_paths([f for _, sample, _ in built for f in sample.files])
        if not paths:
            return
        found, missing = await self.service.files.stat_many(
            self.service.caller_token, self.service.access.project_id, paths
        )
        bad = set(missing) | {e["path"] for e in found if e.get("kind") == "folder"}
        if not bad:
            return
        for draft, sample, _ in built:
            rows = [number for number, file_set, _ in draft.units if file_set["paths"]]
            for index, file_set in enumerate(sample.files):
                row = rows[min(index, len(rows) - 1)]
                for role, path in _file_paths(file_set):
                    if path in bad:
                        problems.add(
                            row,
                            f"{path} is not a file in this project's storage; upload it first",
                            sample=draft.display_id,
                            column=role,
                        )


def _file_paths(file_set: FileSet) -> list[tuple[str, str]]:
    return [(role, path) for role, path in file_set.paths.items() if not is_external(path)]
