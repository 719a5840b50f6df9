"""POST /samples/import: samplesheets as labs really write them, and all-or-nothing errors."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

PROBLEM_JSON = "application/problem+json"


@pytest.fixture
def send(miner_client: httpx.AsyncClient, team: Any) -> Any:
    async def post(
        body: bytes | str, content_type: str = "text/csv", **params: str
    ) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return await miner_client.post(
            "/api/v1/samples/import",
            content=data,
            params=params,
            headers={**team.headers("editor"), "Content-Type": content_type},
        )

    return post


async def samples(client: httpx.AsyncClient, team: Any) -> dict[str, dict[str, Any]]:
    response = await client.get(
        "/api/v1/samples", params={"limit": 500}, headers=team.headers("viewer")
    )
    return {sample["display_id"]: sample for sample in response.json()["items"]}


async def counts(client: httpx.AsyncClient, team: Any) -> tuple[int, int]:
    subjects = await client.get("/api/v1/subjects", headers=team.headers("viewer"))
    sampled = await client.get("/api/v1/samples", headers=team.headers("viewer"))
    return subjects.json()["count"], sampled.json()["count"]


class TestImportFormats:
    async def test_a_sarek_style_sheet_makes_subjects_samples_and_lanes(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any, fastqs: Any
    ) -> None:
        fastqs("a_L1_1.fq.gz", "a_L1_2.fq.gz", "a_L2_1.fq.gz", "a_L2_2.fq.gz", "b_1.fq.gz")
        sheet = (
            "patient,sex,status,sample,lane,fastq_1,fastq_2\n"
            "P1,XX,0,N1,L1,raw/a_L1_1.fq.gz,raw/a_L1_2.fq.gz\n"
            "P1,XX,0,N1,L2,raw/a_L2_1.fq.gz,raw/a_L2_2.fq.gz\n"
            "P1,XX,1,T1,L1,raw/b_1.fq.gz,\n"
        )

        response = await send(sheet)

        assert response.status_code == 201, response.text
        assert (response.json()["samples_created"], response.json()["subjects_created"]) == (2, 1)
        made = await samples(miner_client, team)
        assert made["N1"]["sample_type"] == "germline" and made["T1"]["sample_type"] == "somatic"
        assert [f["lane"] for f in made["N1"]["files"]] == ["L1", "L2"]
        assert made["T1"]["files"][0]["paths"] == {"fastq_1": "raw/b_1.fq.gz"}
        subject = (
            await miner_client.get(
                f"/api/v1/subjects/{made['N1']['subject']['id']}", headers=team.headers("viewer")
            )
        ).json()
        assert (subject["display_id"], subject["sex"], subject["sample_count"]) == (
            "P1",
            "female",
            2,
        )

    async def test_bom_crlf_semicolons_and_quoted_newlines(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any
    ) -> None:
        sheet = (
            "\ufeffsample;tissue;comment\r\n"
            'S1;liver;"two\r\nlines; with a semicolon"\r\n'
            'S2;"skin";plain\r\n'
            "\r\n"
        )

        response = await send(sheet.encode("utf-8"))

        assert response.status_code == 201, response.text
        made = await samples(miner_client, team)
        assert made["S1"]["tissue"] == "liver"
        assert made["S1"]["properties"] == {"comment": "two\r\nlines; with a semicolon"}
        assert made["S2"]["tissue"] == "skin"

    async def test_tab_separated(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any
    ) -> None:
        response = await send("sample\tbarcode\nS1\t7\n", "text/tab-separated-values")

        assert response.status_code == 201
        assert (await samples(miner_client, team))["S1"]["barcode"] == "7"

    async def test_json_lines(self, miner_client: httpx.AsyncClient, team: Any, send: Any) -> None:
        lines = "\n".join(
            json.dumps(row)
            for row in [
                {
                    "sample": "S1",
                    "patient": "P9",
                    "replicate": 1,
                    "fastq_1": "https://x.org/1.fq.gz",
                    "antibody": "H3K27ac",
                },
                {
                    "sample": "S1",
                    "patient": "P9",
                    "replicate": 2,
                    "fastq_1": "https://x.org/2.fq.gz",
                    "antibody": "H3K27ac",
                },
            ]
        )

        response = await send(lines, "application/x-ndjson")

        assert response.status_code == 201, response.text
        made = (await samples(miner_client, team))["S1"]
        assert [f["replicate"] for f in made["files"]] == [1, 2]
        assert made["properties"] == {"antibody": "H3K27ac"}  # the same on every row

    async def test_columns_that_vary_by_row_stay_with_their_row(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any
    ) -> None:
        sheet = (
            "sample,fastq_1,replicate,control,control_replicate\n"
            "IP,https://x.org/1.fq,1,INPUT,1\n"
            "IP,https://x.org/2.fq,2,INPUT,2\n"
        )

        assert (await send(sheet)).status_code == 201
        made = (await samples(miner_client, team))["IP"]
        assert made["properties"] == {"control": "INPUT"}
        assert [f["attributes"] for f in made["files"]] == [
            {"control_replicate": "1"},
            {"control_replicate": "2"},
        ]


class TestImportErrors:
    @pytest.mark.parametrize(
        ("sheet", "row", "column", "message"),
        [
            ("sample,sample_type\nS1,blood\n", 1, "sample_type", "Input should be"),
            ("sample,collection_date\nS1,31/12/2025\n", 1, "collection_date", "date"),
            ("sample,tissue\n,liver\n", 1, "sample", "no sample name"),
            ("sample\nhas space\n", 1, "sample", "String should match pattern"),
            ("display_id\nhas space\n", 1, "display_id", "String should match pattern"),
            ("patient,sample\nhas space,S1\n", 1, "patient", "String should match pattern"),
            (
                "patient,sample,lane,fastq_1\nP1,S1,L1,https://x/a.fq.gz\nP1,S1,L1,https://x/b.fq.gz\n",
                2,
                "lane",
                "already on row 1",
            ),
            ("patient,sample\nP1,S1\nP2,S1\n", 2, "patient", "differs"),
            ("patient,sex,sample\nP1,XY,S1\nP1,XY,S2\nP1,XX,S3\n", 3, "sex", None),
            ("sample,status\nS1,2\n", 1, "status", "neither 0 (normal) nor 1 (tumour)"),
            ("sample,fastq_1\nS1,raw/missing.fq.gz\n", 1, "fastq_1", "upload it first"),
            ("sample,fastq_1\nS1,/data/abs.fq.gz\n", 1, "fastq_1", "a path inside the project"),
            ("sample,lane\nS1,L1\n", 1, None, "lane or replicate without any file"),
            ("sample,a\nS1,1,2\n", 1, None, "3 values for 2 columns"),
            ("sample,sample\nS1,S1\n", 0, None, "repeated column"),
        ],
    )
    async def test_each_problem_names_its_row_and_column_and_nothing_is_written(
        self,
        miner_client: httpx.AsyncClient,
        team: Any,
        send: Any,
        sheet: str,
        row: int,
        column: str | None,
        message: str | None,
    ) -> None:
        before = await counts(miner_client, team)
        response = await send("sample\nFINE-1\n")  # one good import first: it must stay alone
        assert response.status_code == 201

        response = await send(sheet)

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()["errors"][0]
        assert (problem["row"], problem["column"]) == (row, column), problem
        if message:
            assert message in problem["message"]
        assert "nothing was imported" in response.json()["detail"]
        assert await counts(miner_client, team) == (before[0], before[1] + 1)

    async def test_an_existing_sample_is_a_row_error(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any, make: Any
    ) -> None:
        await make("samples", display_id="S2")

        response = await send("sample\nS1\nS2\nS3\n")

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {
                "location": "sheet",
                "field": "sample",
                "message": "the project already has this sample",
                "type": "import",
                "row": 2,
                "sample": "S2",
                "column": "sample",
            },
        ]
        assert set(await samples(miner_client, team)) == {"S2"}

    async def test_an_existing_subject_is_reused(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any, make: Any
    ) -> None:
        subject = await make("subjects", display_id="P1", sex="male")

        response = await send("patient,sample\nP1,S1\n")

        assert response.status_code == 201 and response.json()["subjects_created"] == 0
        assert (await samples(miner_client, team))["S1"]["subject"]["id"] == subject["id"]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"", "empty"),
            (b"\xff\xfesample\n", "not UTF-8"),
            (b"sample\n", "no rows"),
            (b'{"sample": "S1"}\n[1]\n', "flat JSON object"),
        ],
    )
    async def test_unusable_bodies_are_422(self, send: Any, body: bytes, message: str) -> None:
        content_type = "application/x-ndjson" if body.startswith(b"{") else "text/csv"
        response = await send(body, content_type)

        assert response.status_code == 422
        assert any(message in error["message"] for error in response.json()["errors"])

    async def test_an_unknown_content_type_is_415(self, send: Any) -> None:
        response = await send("sample\nS1\n", "application/vnd.ms-excel")

        assert response.status_code == 415
        assert "text/csv" in response.json()["detail"]

    async def test_too_large_is_413(self, send: Any, miner_app: Any) -> None:
        limit = miner_app.state.settings.IMPORT_MAX_BYTES
        response = await send(b"sample\n" + b"S1\n" * (limit // 3 + 10))

        assert response.status_code == 413

    async def test_viewers_may_not_import(self, miner_client: httpx.AsyncClient, team: Any) -> None:
        response = await miner_client.post(
            "/api/v1/samples/import",
            content=b"sample\nS1\n",
            headers={**team.headers("viewer"), "Content-Type": "text/csv"},
        )

        assert response.status_code == 403


class TestImportMultipart:
    """The sheet as the ``file`` part of multipart/form-data: what generated clients send."""

    @pytest.fixture
    def upload(self, miner_client: httpx.AsyncClient, team: Any) -> Any:
        async def post(
            name: str, data: bytes, content_type: str, part: str = "file", **params: str
        ) -> httpx.Response:
            return await miner_client.post(
                "/api/v1/samples/import",
                files={part: (name, data, content_type)},
                params=params,
                headers=team.headers("editor"),
            )

        return post

    async def test_a_csv_file_part_imports_like_a_csv_body(
        self, miner_client: httpx.AsyncClient, team: Any, upload: Any
    ) -> None:
        response = await upload("sheet.csv", b"patient,sample,tissue\nP1,S1,liver\n", "text/csv")

        assert response.status_code == 201, response.text
        assert (response.json()["samples_created"], response.json()["subjects_created"]) == (1, 1)
        assert (await samples(miner_client, team))["S1"]["tissue"] == "liver"

    async def test_an_octet_stream_part_is_known_by_its_name(
        self, miner_client: httpx.AsyncClient, team: Any, upload: Any
    ) -> None:
        lines = b'{"sample": "S1", "barcode": 7}\n{"sample": "S2"}\n'

        response = await upload("sheet.jsonl", lines, "application/octet-stream")

        assert response.status_code == 201, response.text
        assert (await samples(miner_client, team))["S1"]["barcode"] == "7"

    async def test_format_names_what_neither_type_nor_name_says(self, upload: Any) -> None:
        sheet = b"sample\nS1\n"

        unknown = await upload("sheet", sheet, "application/octet-stream")
        named = await upload("sheet", sheet, "application/octet-stream", format="csv")

        assert unknown.status_code == 415
        assert "?format=" in unknown.json()["detail"]
        assert named.status_code == 201, named.text

    async def test_a_body_without_a_file_part_is_422(self, upload: Any) -> None:
        response = await upload("sheet.csv", b"sample\nS1\n", "text/csv", part="sheet")

        assert response.status_code == 422
        assert "'file' part" in response.json()["detail"]

    async def test_too_large_is_413(self, upload: Any, miner_app: Any) -> None:
        limit = miner_app.state.settings.IMPORT_MAX_BYTES

        response = await upload("big.csv", b"sample\n" + b"S1\n" * (limit // 3 + 10), "text/csv")

        assert response.status_code == 413

    async def test_the_multipart_body_is_in_the_openapi_document(self, miner_app: Any) -> None:
        body = miner_app.openapi()["paths"]["/api/v1/samples/import"]["post"]["requestBody"]

        assert set(body["content"]) >= {"text/csv", "application/x-ndjson", "multipart/form-data"}
        form = body["content"]["multipart/form-data"]["schema"]
        assert form["required"] == ["file"]
        file_part = form["properties"]["file"]
        assert (file_part["type"], file_part["format"]) == ("string", "binary")


class TestPipelineCheckInput:
    async def test_a_pipeline_that_is_not_a_slug_is_refused_before_compute_is_asked(
        self, miner_client: httpx.AsyncClient, team: Any, send: Any
    ) -> None:
        # Unchecked, it reached compute's /pipelines/slug/rnaseq/versions/3.14.0 and gave a 500.
        response = await send("sample\nS1\n", pipeline="rnaseq/versions/3.14.0")

        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["field"] == "pipeline"
        assert await samples(miner_client, team) == {}
