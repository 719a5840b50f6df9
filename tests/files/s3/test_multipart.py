"""Multipart uploads through /api/v1/files/multipart on the s3 backend, parts PUT to S3 directly."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Project = tuple[Any, Any, Any]
MIB = 1024**2
# S3 (and moto) refuse parts under 5 MiB but the last, so these tests move real 5 MiB parts.
# Seeded bytes (no repeats a part could hide behind): made in milliseconds, where hashing 360,000
# numbers at import cost every test process a second.
DATA = random.Random(18).randbytes(10 * MIB + 99)
CHUNKS = [DATA[: 5 * MIB], DATA[5 * MIB : 10 * MIB], DATA[10 * MIB :]]


async def start(api: httpx.AsyncClient, project: Project, path: str) -> dict[str, Any]:
    editor, _, project_id = project
    response = await api.post(
        "/api/v1/files/multipart",
        json={
            "path": path,
            "size": len(DATA),
            "part_size": 5 * MIB,
            "content_type": "application/gzip",
        },
        headers=editor.in_project(project_id),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def put_part(web: httpx.AsyncClient, part: dict[str, Any]) -> str:
    response = await web.put(
        part["url"], content=CHUNKS[part["part_number"] - 1], headers=part["headers"]
    )
    assert response.status_code == 200, response.text
    return response.headers["ETag"]


def pending_uploads(moto_s3: S3Client, bucket: str) -> list[str]:
    return [u["Key"] for u in moto_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


class TestMultipartOnS3:
    async def test_start_resume_and_complete(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        moto_s3: S3Client,
        moto_endpoint: str,
        bucket: str,
        s3_signature: Callable[[httpx.Request], bool],
    ) -> None:
        editor, viewer, project_id = project
        upload = await start(api, project, "runs/r1/reads.fastq.gz")
        assert [part["part_number"] for part in upload["parts"]] == [1, 2, 3]
        assert all(part["url"].startswith(f"{moto_endpoint}/{bucket}/") for part in upload["parts"])
        first = upload["parts"][0]
        assert not s3_signature(web.build_request("PUT", first["url"], content=CHUNKS[0] + b"x"))
        etags = {1: await put_part(web, first)}

        # Interrupted: ask which parts S3 holds, and get fresh URLs for the others.
        resumed = await api.get(
            f"/api/v1/files/multipart/{upload['id']}", headers=viewer.in_project(project_id)
        )
        assert resumed.status_code == 200, resumed.text
        assert [
            (part["part_number"], part["size"]) for part in resumed.json()["uploaded_parts"]
        ] == [(1, 5 * MIB)]
        remaining = resumed.json()["parts"]
        assert [part["part_number"] for part in remaining] == [2, 3]
        for part in remaining:
            etags[part["part_number"]] = await put_part(web, part)

        done = await api.post(
            f"/api/v1/files/multipart/{upload['id']}/complete",
            json={"parts": [{"part_number": n, "etag": etag} for n, etag in etags.items()]},
            headers=editor.in_project(project_id),
        )

        assert done.status_code == 200, done.text
        assert done.json()["size"] == len(DATA)
        assert done.json()["etag"].endswith("-3")
        key = f"projects/{project_id}/runs/r1/reads.fastq.gz"
        stored = moto_s3.get_object(Bucket=bucket, Key=key)
        assert stored["Body"].read() == DATA
        assert stored["ContentType"] == "application/gzip"
        assert pending_uploads(moto_s3, bucket) == []
        link = await api.get(
            "/api/v1/files/download-url",
            params={"path": "runs/r1/reads.fastq.gz"},
            headers=viewer.in_project(project_id),
        )
        assert (await web.get(link.json()["url"])).content == DATA

    async def test_abort_drops_the_parts(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        moto_s3: S3Client,
        bucket: str,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        upload = await start(api, project, "big.fastq.gz")
        await put_part(web, upload["parts"][0])
        assert len(pending_uploads(moto_s3, bucket)) == 1

        response = await api.delete(
            f"/api/v1/files/multipart/{upload['id']}", headers=editor.in_project(project_id)
        )

        assert response.status_code == 204, response.text
        assert pending_uploads(moto_s3, bucket) == []
        assert stored_keys() == []
        status = await api.get(
            f"/api/v1/files/multipart/{upload['id']}", headers=editor.in_project(project_id)
        )
        assert status.json()["status"] == "aborted"
