"""The samplesheets nf-core pipelines ship (../shared/fixtures/nf-core) go in through the import
endpoint and come back out of an order equivalent, and what comes out validates against the
pipeline's own schema_input.json with an independent JSON Schema validator.

"Equivalent": the same rows in the same order; every value the example has comes back (a file
comes back as the same file: the project path it was imported as, or the same URL; the
server's own folders never show); columns the example leaves out come back empty or with the
pipeline family's default.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import validators

from nfhub_miner.samplesheets.builder import SamplesheetBuilder
from nfhub_miner.samplesheets.columns import FAMILY_DEFAULTS, FILE_ROLES
from nfhub_miner.samplesheets.records import SheetSample

EXAMPLES = [
    ("rnaseq", "samplesheet.csv"),
    ("sarek", "fastq_multi_lane.csv"),
    ("sarek", "fastq_pair.csv"),
    ("atacseq", "samplesheet.csv"),
    ("chipseq", "samplesheet_pe.csv"),
    ("chipseq", "samplesheet_se.csv"),
    ("viralrecon", "samplesheet_illumina.csv"),
    ("viralrecon", "samplesheet_nanopore.csv"),
]


def read_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def localise(pipeline: str, rows: list[dict[str, str]]) -> tuple[list[dict[str, str]], set[str]]:
    """The example with its local file paths turned into paths of the project's storage."""
    files: set[str] = set()
    changed = []
    for row in rows:
        new = dict(row)
        for column, value in row.items():
            if column in FILE_ROLES and value and "://" not in value:
                new[column] = f"fixtures/{pipeline}/{Path(value).name}"
                files.add(new[column])
        changed.append(new)
    return changed, files


def write_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def register(
    compute_client: httpx.AsyncClient, team: Any, nf_core: Path, pipeline: str
) -> dict[str, Any]:
    input_schema = json.loads((nf_core / pipeline / "schema_input.json").read_text())
    response = await compute_client.post(
        "/api/v1/pipelines",
        json={
            "slug": pipeline,
            "name": f"nf-core/{pipeline}",
            "version": {
                "version": "1.0.0",
                "source": {"url": f"https://github.com/nf-core/{pipeline}", "revision": "master"},
                "params_schema": json.loads(
                    (nf_core / pipeline / "nextflow_schema.json").read_text()
                ),
                "input_schema": input_schema,
            },
        },
        headers=team.headers("admin"),
    )
    assert response.status_code == 201, response.text
    return input_schema


@pytest.mark.parametrize(("pipeline", "example"), EXAMPLES, ids=[f"{p}/{e}" for p, e in EXAMPLES])
class TestRoundTrip:
    async def test_an_example_samplesheet_comes_back_out_equivalent_and_valid(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        nf_core: Path,
        pipeline: str,
        example: str,
    ) -> None:
        input_schema = await register(compute_client, team, nf_core, pipeline)
        original = read_csv((nf_core / pipeline / example).read_text())
        rows, files = localise(pipeline, original)
        for path in files:
            team.put(path, b"@r\nACGT\n+\nIIII\n")

        imported = await miner_client.post(
            "/api/v1/samples/import",
            content=write_csv(rows).encode(),
            headers={**team.headers("editor"), "Content-Type": "text/csv"},
        )
        assert imported.status_code == 201, imported.text
        order = await miner_client.post(
            "/api/v1/orders",
            json={
                "display_id": "ROUND-TRIP",
                "pipeline": pipeline,
                "samples": [{"sample_id": s["id"]} for s in imported.json()["samples"]],
            },
            headers=team.headers("editor"),
        )
        assert order.status_code == 201, order.text
        sheet = await miner_client.get(
            f"/api/v1/orders/{order.json()['id']}/samplesheet", headers=team.headers("viewer")
        )
        typed = await miner_client.get(
            f"/api/v1/orders/{order.json()['id']}/samplesheet",
            params={"format": "json"},
            headers=team.headers("viewer"),
        )

        assert sheet.status_code == 200, sheet.text
        exported = read_csv(sheet.text)
        assert list(exported[0]) == list(input_schema["items"]["properties"])  # schema order
        assert len(exported) == len(original)
        defaults = {c: d.value for c, d in FAMILY_DEFAULTS.get(pipeline, {}).items()}
        for number, (given, local, out) in enumerate(zip(original, rows, exported, strict=True)):
            for column, value in out.items():
                if given.get(column):
                    if column in FILE_ROLES and "://" not in given[column]:
                        assert value == local[column], (number, column)
                    else:
                        assert value == given[column], (number, column, value)
                else:
                    assert value in ("", defaults.get(column), "0" if column == "status" else ""), (
                        number,
                        column,
                        value,
                    )
        # An independent check: the typed rows against the pipeline's schema, draft by draft.
        validator_class = validators.validator_for(input_schema)
        checker = validator_class(input_schema)
        problems = [error.message for error in checker.iter_errors(typed.json())]
        assert problems == []


# Each input kind of sarek (the shapes of its own tests' samplesheets), with project paths.
SAREK_KINDS = {
    "fastq": "patient,sex,status,sample,lane,fastq_1,fastq_2\n"
    "P1,XX,0,N1,L1,raw/N1_1.fastq.gz,raw/N1_2.fastq.gz\n"
    "P1,XX,1,T1,L1,raw/T1_1.fastq.gz,raw/T1_2.fastq.gz\n",
    "fastq-no-lane": "patient,sex,status,sample,fastq_1,fastq_2\n"
    "P1,XX,0,N1,raw/N1_1.fastq.gz,raw/N1_2.fastq.gz\n",
    "spring": "patient,sex,status,sample,lane,spring_1,spring_2\n"
    "P1,XY,0,N1,L1,raw/N1_1.fastq.gz.spring,raw/N1_2.fastq.gz.spring\n",
    "ubam": "patient,sex,status,sample,lane,bam\nP1,XX,0,N1,L1,raw/N1.unmapped.bam\n",
    "bam": "patient,sex,status,sample,bam,bai\n"
    "P1,XX,0,N1,raw/N1.recal.bam,raw/N1.recal.bam.bai\n"
    "P1,XX,1,T1,raw/T1.recal.bam,raw/T1.recal.bam.bai\n",
    "cram": "patient,sex,status,sample,cram,crai\n"
    "P1,XX,0,N1,raw/N1.recal.cram,raw/N1.recal.cram.crai\n"
    "P1,XX,1,T1,raw/T1.recal.cram,raw/T1.recal.cram.crai\n",
    "table": "patient,sex,status,sample,cram,crai,table\n"
    "P1,XX,0,N1,raw/N1.md.cram,raw/N1.md.cram.crai,raw/N1.recal.table\n",
    "bam-table": "patient,sex,status,sample,bam,bai,table\n"
    "P1,XX,0,N1,raw/N1.md.bam,raw/N1.md.bam.bai,raw/N1.recal.table\n",
    "vcf": "patient,sample,variantcaller,vcf\nP1,N1,strelka,raw/N1.strelka.variants.vcf.gz\n",
}


@pytest.mark.parametrize("kind", list(SAREK_KINDS))
async def test_every_sarek_input_kind_goes_in_and_comes_out(
    miner_client: httpx.AsyncClient,
    compute_client: httpx.AsyncClient,
    team: Any,
    nf_core: Path,
    kind: str,
) -> None:
    input_schema = await register(compute_client, team, nf_core, "sarek")
    given = read_csv(SAREK_KINDS[kind])
    for row in given:
        for column, value in row.items():
            if column in FILE_ROLES:
                team.put(value, b"data")
    imported = await miner_client.post(
        "/api/v1/samples/import",
        content=SAREK_KINDS[kind].encode(),
        headers={**team.headers("editor"), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 201, imported.text
    order = await miner_client.post(
        "/api/v1/orders",
        json={
            "display_id": "ORD-K",
            "pipeline": "sarek",
            "samples": [{"sample_id": s["id"]} for s in imported.json()["samples"]],
        },
        headers=team.headers("editor"),
    )
    assert order.status_code == 201, order.text

    sheet = await miner_client.get(
        f"/api/v1/orders/{order.json()['id']}/samplesheet", headers=team.headers("viewer")
    )
    typed = await miner_client.get(
        f"/api/v1/orders/{order.json()['id']}/samplesheet",
        params={"format": "json"},
        headers=team.headers("viewer"),
    )

    assert sheet.status_code == 200, sheet.text
    exported = read_csv(sheet.text)
    assert len(exported) == len(given)
    for row, out in zip(given, exported, strict=True):
        assert {c: out[c] for c in row} == row
        # A lane appears only where the sheet had one, or as FASTQ's default.
        assert out["lane"] == row.get("lane", "1" if kind == "fastq-no-lane" else "")
    checker = validators.validator_for(input_schema)(input_schema)
    assert [error.message for error in checker.iter_errors(typed.json())] == []


class TestSamplesheetProblems:
    async def test_a_duplicate_patient_sample_lane_is_named(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        nf_core: Path,
        make: Any,
        fastqs: Any,
    ) -> None:
        await register(compute_client, team, nf_core, "sarek")
        subject = await make("subjects", display_id="P1", sex="male")
        a1, a2, b1, b2 = fastqs("a_1.fastq.gz", "a_2.fastq.gz", "b_1.fastq.gz", "b_2.fastq.gz")
        sample = await make(
            "samples",
            display_id="N1",
            subject_id=subject["id"],
            files=[
                {"paths": {"fastq_1": a1, "fastq_2": a2}},  # no lane: both get the default, 1
                {"paths": {"fastq_1": b1, "fastq_2": b2}},
            ],
        )
        order = await make(
            "orders",
            display_id="ORD-S",
            pipeline="sarek",
            samples=[{"sample_id": sample["id"], "role": "normal"}],
        )

        response = await miner_client.get(
            f"/api/v1/orders/{order['id']}/samplesheet", headers=team.headers("viewer")
        )

        assert response.status_code == 422
        (problem,) = response.json()["errors"]
        assert (problem["sample"], problem["column"]) == ("N1", "sample")
        assert "lane=1, patient=P1, sample=N1 is already used by sample N1" in problem["message"]

    async def test_status_comes_from_the_role_in_the_order(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        nf_core: Path,
        make: Any,
        fastqs: Any,
    ) -> None:
        await register(compute_client, team, nf_core, "sarek")
        subject = await make("subjects", display_id="P1", sex="female")
        made = {}
        for name in ("T", "N"):
            r1, r2 = fastqs(f"{name}_1.fastq.gz", f"{name}_2.fastq.gz")
            made[name] = await make(
                "samples",
                display_id=name,
                subject_id=subject["id"],
                files=[{"lane": "L1", "paths": {"fastq_1": r1, "fastq_2": r2}}],
            )
        order = await make(
            "orders",
            display_id="ORD-TN",
            pipeline="sarek",
            samples=[
                {"sample_id": made["T"]["id"], "role": "tumour"},
                {"sample_id": made["N"]["id"], "role": "normal"},
            ],
        )

        sheet = await miner_client.get(
            f"/api/v1/orders/{order['id']}/samplesheet", headers=team.headers("viewer")
        )

        rows = read_csv(sheet.text)
        assert [(r["sample"], r["status"], r["sex"], r["lane"]) for r in rows] == [
            ("T", "1", "XX", "L1"),
            ("N", "0", "XX", "L1"),
        ]


class TestSamplesheetPaths:
    async def test_users_get_project_paths_and_the_run_gets_the_files(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        make: Any,
        fastqs: Any,
        hello: Any,
    ) -> None:
        r1, r2 = fastqs("S1_R1.fastq.gz", "S1_R2.fastq.gz")
        sample = await make(
            "samples", display_id="S1", files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
        )
        order = await make(
            "orders", display_id="ORD-P", pipeline="hello", samples=[{"sample_id": sample["id"]}]
        )

        shown = {}
        for file_format in ("csv", "tsv", "json"):
            response = await miner_client.get(
                f"/api/v1/orders/{order['id']}/samplesheet",
                params={"format": file_format},
                headers=team.headers("viewer"),
            )
            assert response.status_code == 200, response.text
            shown[file_format] = response.text
        moved = await miner_client.post(
            f"/api/v1/orders/{order['id']}/transition",
            json={"to": "analyzing"},
            headers=team.headers("editor"),
        )

        assert read_csv(shown["csv"])[0]["fastq_1"] == r1 == "raw/S1_R1.fastq.gz"
        assert all(str(team.storage) not in text for text in shown.values())
        assert moved.status_code == 200, moved.text
        for_run = read_csv((team.storage / "orders" / "ORD-P" / "samplesheet.csv").read_text())
        assert for_run[0]["fastq_1"] == str(team.storage / r1)


def test_on_s3_users_get_the_objects_uri(nf_core: Path) -> None:
    schema = json.loads((nf_core / "rnaseq" / "schema_input.json").read_text())
    sample = SheetSample("S1", "germline", None, {}, [{"paths": {"fastq_1": "raw/S1.fastq.gz"}}])

    for for_run in (False, True):
        builder = SamplesheetBuilder(schema, "rnaseq", "s3://bucket/p/1/", for_run=for_run)
        (row,) = builder.rows_of("sample", sample, None)
        assert row["fastq_1"] == "s3://bucket/p/1/raw/S1.fastq.gz"


class TestSamplesheetFormat:
    @pytest.mark.parametrize(
        ("file_format", "media_type", "extension"),
        [
            ("csv", "text/csv; charset=utf-8", "csv"),
            ("tsv", "text/tab-separated-values; charset=utf-8", "tsv"),
            ("json", "application/json", "json"),
        ],
    )
    async def test_utf8_without_bom_lf_and_a_file_name(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        make: Any,
        fastqs: Any,
        hello: Any,
        file_format: str,
        media_type: str,
        extension: str,
    ) -> None:
        r1, r2 = fastqs("Ñandú_R1.fastq.gz", "Ñandú_R2.fastq.gz")
        sample = await make(
            "samples", display_id="S1", files=[{"paths": {"fastq_1": r1, "fastq_2": r2}}]
        )
        order = await make(
            "orders", display_id="ORD-F", pipeline="hello", samples=[{"sample_id": sample["id"]}]
        )

        response = await miner_client.get(
            f"/api/v1/orders/{order['id']}/samplesheet",
            params={"format": file_format},
            headers=team.headers("viewer"),
        )

        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type
        disposition = response.headers["content-disposition"]
        assert disposition == f'attachment; filename="ORD-F.samplesheet.{extension}"'
        assert not response.content.startswith(b"\xef\xbb\xbf")
        assert b"\r" not in response.content and response.content.endswith(b"\n")
        assert "Ñandú_R1.fastq.gz" in response.content.decode("utf-8")
        if file_format == "tsv":
            assert response.text.splitlines()[0] == "sample\tfastq_1\tfastq_2"
        if file_format == "json":
            assert response.json()[0]["sample"] == "S1"


class TestImportForAPipeline:
    async def test_rows_the_pipeline_would_refuse_are_refused_at_import(
        self,
        miner_client: httpx.AsyncClient,
        compute_client: httpx.AsyncClient,
        team: Any,
        nf_core: Path,
    ) -> None:
        await register(compute_client, team, nf_core, "sarek")
        sheet = "patient,sample,lane,cram\nP1,N1,L1,https://x/N1.cram\nP1,N2,L1,https://x/N2.cram\n"

        response = await miner_client.post(
            "/api/v1/samples/import",
            params={"pipeline": "sarek"},
            content=sheet.encode(),
            headers={**team.headers("editor"), "Content-Type": "text/csv"},
        )

        assert response.status_code == 422, response.text
        found = [(p["row"], p["sample"], p["column"]) for p in response.json()["errors"]]
        assert found == [(1, "N1", "lane"), (2, "N2", "lane")]
        assert "fastq_1, spring_1, bam" in response.json()["errors"][1]["message"]
