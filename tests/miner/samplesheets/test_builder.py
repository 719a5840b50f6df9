"""The builder's fast check (each column alone, row rules once per set of columns) finds the
same problems as validating each whole row, on the real nf-core schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nfhub_miner.samplesheets.builder import SamplesheetBuilder, convert

PIPELINES = ["rnaseq", "sarek", "atacseq", "chipseq", "viralrecon"]
ROWS: list[dict[str, Any]] = [
    {"sample": "S1", "fastq_1": "/d/S1_1.fastq.gz", "fastq_2": "/d/S1_2.fastq.gz"},
    {"sample": "S 2", "fastq_1": "/d/S2_1.fastq.gz"},
    {"sample": "S3", "fastq_2": "/d/S3_2.fastq.gz"},
    {"sample": "S4", "fastq_1": "not-a-fastq.txt", "strandedness": "sideways"},
    {"patient": "P1", "sample": "S5", "sex": "XY", "status": 2, "lane": "L 1",
     "fastq_1": "/d/a.fastq.gz"},
    {"patient": "P1", "sample": "S6", "lane": "L1", "bam": "/d/x.bam"},
    {"sample": "S7", "replicate": "x", "barcode": "twelve"},
    {},
]  # fmt: skip


def problems(builder: SamplesheetBuilder, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    builder.problems = []
    for index, row in enumerate(rows):
        typed = {k: convert(v, builder.declared.get(k, {})) if k in builder.declared else v
                 for k, v in row.items()}  # fmt: skip
        builder.check({k: v for k, v in typed.items() if k in builder.declared}, f"row{index}")
    return sorted((p.context["sample"], p.field or "", p.message) for p in builder.problems)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_fast_check_agrees_with_whole_rows(nf_core: Path, pipeline: str) -> None:
    schema = json.loads((nf_core / pipeline / "schema_input.json").read_text())
    fast = SamplesheetBuilder(schema, pipeline, "file:///data/")
    whole = SamplesheetBuilder(schema, pipeline, "file:///data/")
    whole.split = False

    assert fast.split, f"{pipeline}'s schema should take the fast path"
    found = problems(fast, ROWS)
    assert found == problems(whole, ROWS)
    assert len(found) >= 3  # the rows above are mostly wrong: the comparison means something


def test_each_problem_names_its_own_sample_row_and_the_columns_that_would_do(
    nf_core: Path,
) -> None:
    schema = json.loads((nf_core / "sarek" / "schema_input.json").read_text())
    builder = SamplesheetBuilder(schema, "sarek", "file:///data/")
    for row, sample in enumerate(("A", "B"), start=1):
        builder.check({"patient": "P", "sample": sample, "lane": "L1", "cram": f"{sample}.cram"},
                      sample, row)  # fmt: skip

    found = [(p.context["sample"], p.context["row"], p.field, p.context["columns"])
             for p in builder.problems]  # fmt: skip
    assert found == [
        ("A", 1, "lane", ["fastq_1", "spring_1", "bam"]),
        ("B", 2, "lane", ["fastq_1", "spring_1", "bam"]),
    ]
    for problem in builder.problems:
        assert "A.cram" not in problem.message
        assert "fastq_1, spring_1, bam" in problem.message
