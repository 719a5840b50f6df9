from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

PROBLEM_JSON = "application/problem+json"


def fields(response: httpx.Response) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


class TestCreateSample:
    async def test_with_files_of_the_project_and_a_subject(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, fastqs: Any
    ) -> None:
        subject = await make("subjects", display_id="P1")
        r1, r2 = fastqs("S1_L001_R1.fastq.gz", "S1_L001_R2.fastq.gz")

        response = await miner_client.post(
            "/api/v1/samples",
            json={
                "display_id": "S1",
                "subject_id": subject["id"],
                "sample_type": "somatic",
                "tissue": "colon",
                "collection_date": "2026-11-02",
                "barcode": "ACGT-TTAA",
                "files": [
                    {"lane": "L001", "paths": {"fastq_1": r1, "fastq_2": r2}},
                    {"paths": {"bam": "s3://lab-archive/S1.bam"}},
                ],
            },
            headers=team.headers("editor"),
        )

        assert response.status_code == 201, response.text
        body = response.json()
        assert body["subject"] == {"id": subject["id"], "display_id": "P1"}
        assert body["files"] == [
            {
                "lane": "L001",
                "replicate": None,
                "attributes": {},
                "paths": {"fastq_1": r1, "fastq_2": r2},
            },
            {
                "lane": None,
                "replicate": None,
                "attributes": {},
                "paths": {"bam": "s3://lab-archive/S1.bam"},
            },
        ]

    async def test_files_must_exist_in_the_project(
        self, miner_client: httpx.AsyncClient, team: Any, fastqs: Any
    ) -> None:
        (r1,) = fastqs("S1_R1.fastq.gz")
        team.put("raw/folder/inside.txt", b"x")
        response = await miner_client.post(
            "/api/v1/samples",
            json={
                "display_id": "S1",
                "files": [
                    {"paths": {"fastq_1": r1, "fastq_2": "raw/S1_R2.fastq.gz"}},
                    {"paths": {"bam": "raw/folder"}},
                ],
            },
            headers=team.headers("editor"),
        )

        assert response.status_code == 422
        messages = [error["message"] for error in response.json()["errors"]]
        assert messages == [
            "raw/S1_R2.fastq.gz is not in this project's files",
            "raw/folder/ is a folder, not a file",
        ]
        listed = await miner_client.get("/api/v1/samples", headers=team.headers("viewer"))
        assert listed.json()["count"] == 0

    @pytest.mark.parametrize(
        "path",
        [
            "/etc/passwd",
            "../other/x.fq",
            "raw/../../x",
            "raw//x",
            "file:///etc/passwd",
            "raw/\u0000.fq",
        ],
    )
    async def test_paths_outside_the_project_are_refused(
        self, miner_client: httpx.AsyncClient, team: Any, path: str
    ) -> None:
        response = await miner_client.post(
            "/api/v1/samples",
            json={"display_id": "S1", "files": [{"paths": {"fastq_1": path}}]},
            headers=team.headers("editor"),
        )

        assert response.status_code == 422
        assert fields(response) == ["files.0.paths.fastq_1"]

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"display_id": "S1", "sample_type": "tumour"}, "sample_type"),
            ({"display_id": "S1", "collection_date": "yesterday"}, "collection_date"),
            (
                {
                    "display_id": "S1",
                    "collection_date": str(datetime.now(UTC).date() + timedelta(2)),
                },
                "collection_date",
            ),
            ({"display_id": "S 1"}, "display_id"),
            ({"display_id": "S1", "files": [{"paths": {}}]}, "files.0.paths"),
            (
                {"display_id": "S1", "files": [{"paths": {"Fastq 1": "raw/x"}}]},
                "files.0.paths.Fastq 1.[key]",
            ),
            (
                {"display_id": "S1", "files": [{"replicate": 0, "paths": {"bam": "raw/x"}}]},
                "files.0.replicate",
            ),
            ({"display_id": "S1", "properties": {"k": "v" * 70_000}}, "properties"),
        ],
    )
    async def test_bad_fields_are_422_naming_them(
        self, miner_client: httpx.AsyncClient, team: Any, body: dict[str, Any], field: str
    ) -> None:
        response = await miner_client.post(
            "/api/v1/samples", json=body, headers=team.headers("editor")
        )

        assert response.status_code == 422, response.text
        assert fields(response) == [field]

    async def test_a_subject_of_another_project_is_not_found(
        self, miner_client: httpx.AsyncClient, team: Any, factory: Any
    ) -> None:
        response = await miner_client.post(
            "/api/v1/samples",
            json={"display_id": "S1", "subject_id": str(uuid.uuid4())},
            headers=team.headers("editor"),
        )

        assert response.status_code == 422
        assert fields(response) == ["subject_id"]

    async def test_display_ids_are_unique(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        await make("samples", display_id="S1")
        again = await miner_client.post(
            "/api/v1/samples", json={"display_id": "S1"}, headers=team.headers("editor")
        )

        assert again.status_code == 409


class TestListSamples:
    async def test_search_and_every_filter(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, set_sample: Any
    ) -> None:
        proband = await make("subjects", display_id="P1")
        first = await make(
            "samples",
            display_id="WGS-0001",
            sample_type="germline",
            subject_id=proband["id"],
            tags=["batch7"],
        )
        second = await make(
            "samples", display_id="TUM-0002", sample_type="somatic", properties={"panel": "TSO500"}
        )
        await set_sample(first["id"], created_at=datetime.now(UTC) - timedelta(days=3))

        async def found(**params: Any) -> list[str]:
            response = await miner_client.get(
                "/api/v1/samples", params=params, headers=team.headers("viewer")
            )
            assert response.status_code == 200, response.text
            return [s["display_id"] for s in response.json()["items"]]

        day_ago = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert await found() == ["TUM-0002", "WGS-0001"]
        assert await found(q="wgs") == ["WGS-0001"]
        assert await found(q="tso5") == ["TUM-0002"]
        assert await found(q="p1") == ["WGS-0001"]  # the subject's id counts too
        assert await found(sample_type="somatic") == ["TUM-0002"]
        assert await found(subject_id=proband["id"]) == ["WGS-0001"]
        assert await found(tag="batch7") == ["WGS-0001"]
        assert await found(created_after=day_ago) == ["TUM-0002"]
        assert await found(created_before=day_ago) == ["WGS-0001"]
        assert await found(q="wgs", sample_type="somatic") == []
        assert second["id"]

    async def test_the_count_follows_creates_and_deletes(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any
    ) -> None:
        made = [await make("samples", display_id=f"S{n}") for n in range(3)]
        await miner_client.delete(
            f"/api/v1/samples/{made[0]['id']}", headers=team.headers("editor")
        )

        page = await miner_client.get(
            "/api/v1/samples", params={"limit": 1}, headers=team.headers("viewer")
        )

        assert page.json()["count"] == 2 and len(page.json()["items"]) == 1
        assert 'rel="next"' in page.headers["link"]

    @pytest.mark.parametrize(
        "params",
        [
            {"sample_type": "blood"},
            {"subject_id": "x"},
            {"created_after": "last week"},
            {"created_before": "0.5"},  # not a Unix time: the document says date-time
            {"created_after": "0001-01-01T00:02:18+13:38"},  # year 0 in UTC (was a 500)
            {"created_before": "9999-12-31T23:59:00-05:00"},  # year 10000 in UTC
            {"limit": 1000},
            {"q": ""},
            {"tag": "a b"},
        ],
    )
    async def test_bad_filters_are_422(
        self, miner_client: httpx.AsyncClient, team: Any, params: dict[str, Any]
    ) -> None:
        response = await miner_client.get(
            "/api/v1/samples", params=params, headers=team.headers("viewer")
        )

        assert response.status_code == 422


class TestChangeSample:
    @pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE", "OPTIONS"])
    async def test_import_is_not_a_sample_id(
        self, miner_client: httpx.AsyncClient, team: Any, method: str
    ) -> None:
        response = await miner_client.request(
            method, "/api/v1/samples/import", headers=team.headers("editor")
        )

        # Not PATCH /samples/{sample_id} with a bad id (422): a method the import lacks.
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize(
        ("field", "value"),
        [("sample_type", None), ("tags", None), ("files", None), ("collection_date", 0)],
    )
    async def test_what_the_schema_does_not_offer_is_refused(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, field: str, value: Any
    ) -> None:
        sample = await make("samples", display_id="S1")

        response = await miner_client.patch(
            f"/api/v1/samples/{sample['id']}", json={field: value}, headers=team.headers("editor")
        )

        assert response.status_code == 422, response.text
        assert [error["field"] for error in response.json()["errors"]] == [field]

    async def test_patch_replaces_files_after_checking_them(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, fastqs: Any
    ) -> None:
        sample = await make("samples", display_id="S1")
        (r1,) = fastqs("S1_R1.fastq.gz")

        missing = await miner_client.patch(
            f"/api/v1/samples/{sample['id']}",
            json={"files": [{"paths": {"fastq_1": "raw/no"}}]},
            headers=team.headers("editor"),
        )
        fine = await miner_client.patch(
            f"/api/v1/samples/{sample['id']}",
            json={"files": [{"paths": {"fastq_1": r1}}]},
            headers=team.headers("editor"),
        )

        assert missing.status_code == 422
        assert fine.status_code == 200 and fine.json()["files"][0]["paths"] == {"fastq_1": r1}

    async def test_a_sample_in_an_order_is_not_deleted(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, hello: Any
    ) -> None:
        sample = await make("samples", display_id="S1")
        await make(
            "orders",
            display_id="ORD-1",
            pipeline="hello",
            samples=[{"sample_id": sample["id"], "role": "proband"}],
        )

        response = await miner_client.delete(
            f"/api/v1/samples/{sample['id']}", headers=team.headers("editor")
        )

        assert response.status_code == 409
        assert "ORD-1" in response.json()["detail"]


class TestSampleinfo:
    async def test_resolves_files_to_what_a_pipeline_reads(
        self, miner_client: httpx.AsyncClient, team: Any, make: Any, fastqs: Any
    ) -> None:
        subject = await make("subjects", display_id="P1", sex="male")
        (r1,) = fastqs("S1_R1.fastq.gz")
        sample = await make(
            "samples",
            display_id="S1",
            subject_id=subject["id"],
            files=[
                {"lane": "L002", "paths": {"fastq_1": r1, "vcf": "https://example.org/S1.vcf.gz"}},
            ],
        )

        response = await miner_client.get(
            f"/api/v1/samples/{sample['id']}/sampleinfo", headers=team.headers("viewer")
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["subject"]["display_id"] == "P1" and body["subject"]["sex"] == "male"
        assert body["files"] == [
            {
                "lane": "L002",
                "replicate": None,
                "attributes": {},
                "files": {
                    "fastq_1": {"path": r1, "uri": str(team.storage / r1)},
                    "vcf": {
                        "path": "https://example.org/S1.vcf.gz",
                        "uri": "https://example.org/S1.vcf.gz",
                    },
                },
            }
        ]
