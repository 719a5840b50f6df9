"""The files API on the s3 backend: what a user's script does, over real HTTP to moto."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from nfhub_files.config import Settings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

Project = tuple[Any, Any, Any]
Problem = Callable[[httpx.Response, int], dict[str, Any]]
Call = tuple[str, str, dict[str, Any]]  # method, URL, httpx keyword arguments
FASTQ = b"@read1\nACGTACGT\n+\nIIIIIIII\n" * 2000


async def entries(api: httpx.AsyncClient, project: Project, path: str) -> list[str]:
    _, viewer, project_id = project
    response = await api.get(
        "/api/v1/files", params={"path": path}, headers=viewer.in_project(project_id)
    )
    assert response.status_code == 200, response.text
    return [item["path"] for item in response.json()["items"]]


class TestTwoStepUploadAndDownload:
    async def test_upload_then_download_through_presigned_urls(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        moto_s3: S3Client,
        moto_endpoint: str,
        bucket: str,
    ) -> None:
        editor, viewer, project_id = project
        ticket = await api.post(
            "/api/v1/files/upload-url",
            json={"path": "raw/S1 R1.fastq", "size": len(FASTQ), "content_type": "text/plain"},
            headers=editor.in_project(project_id),
        )
        assert ticket.status_code == 200, ticket.text
        body = ticket.json()
        assert body["method"] == "PUT"
        assert body["url"].startswith(f"{moto_endpoint}/{bucket}/projects/{project_id}/raw/")
        assert body["headers"] == {
            "Content-Length": str(len(FASTQ)),
            "Content-Type": "text/plain",
        }

        put = await web.put(body["url"], content=FASTQ, headers=body["headers"])

        assert put.status_code == 200, put.text
        stored = moto_s3.get_object(Bucket=bucket, Key=f"projects/{project_id}/raw/S1 R1.fastq")
        assert stored["Body"].read() == FASTQ
        assert stored["ContentType"] == "text/plain"
        link = await api.get(
            "/api/v1/files/download-url",
            params={"path": "raw/S1 R1.fastq"},
            headers=viewer.in_project(project_id),
        )
        assert link.status_code == 200, link.text
        assert link.json()["size"] == len(FASTQ)
        download = await web.get(link.json()["url"])
        assert download.status_code == 200
        assert download.content == FASTQ
        assert download.headers["content-disposition"] == (
            "attachment; filename=\"S1 R1.fastq\"; filename*=UTF-8''S1%20R1.fastq"
        )
        partial = await web.get(link.json()["url"], headers={"Range": "bytes=0-5"})
        assert partial.status_code == 206
        assert partial.content == FASTQ[:6]

    async def test_a_ranged_download_names_the_version_the_listing_names(
        self, api: httpx.AsyncClient, web: httpx.AsyncClient, project: Project
    ) -> None:
        """What `nfhub files download` checks every range against: the ETag of a presigned
        GET is the stat's etag, and a replaced file's is another."""
        editor, viewer, project_id = project
        headers = editor.in_project(project_id)
        versions: list[tuple[str, httpx.Response]] = []
        for content in (FASTQ, FASTQ.lower()):  # the same size, other bytes
            ticket = await api.post(
                "/api/v1/files/upload-url", json={"path": "raw/v.fastq"}, headers=headers
            )
            put = await web.put(ticket.json()["url"], content=content)
            assert put.status_code == 200, put.text
            stat = await api.get(
                "/api/v1/files/stat", params={"path": "raw/v.fastq"}, headers=headers
            )
            link = await api.get(
                "/api/v1/files/download-url",
                params={"path": "raw/v.fastq"},
                headers=viewer.in_project(project_id),
            )
            ranged = await web.get(link.json()["url"], headers={"Range": "bytes=10-19"})
            assert (ranged.status_code, ranged.content) == (206, content[10:20])
            versions.append((stat.json()["etag"], ranged))
        # The rest of the first version, asked for after the second replaced it. S3 (and moto)
        # ignore If-Range: the answer is the range of the new bytes, a 206 like any other, and
        # only its ETag, the new version's, tells the client (nfhub_cli.transfer checks it).
        stale = await web.get(
            link.json()["url"], headers={"Range": "bytes=10-19", "If-Range": f'"{versions[0][0]}"'}
        )

        (first, first_range), (second, second_range) = versions
        assert first_range.headers["etag"] == f'"{first}"'
        assert second_range.headers["etag"] == f'"{second}"'
        assert first != second
        assert (stale.status_code, stale.headers["etag"], stale.content) == (
            206,
            f'"{second}"',
            FASTQ.lower()[10:20],
        )

    async def test_download_url_of_a_missing_file_is_404(
        self, api: httpx.AsyncClient, project: Project, as_problem: Problem
    ) -> None:
        _, viewer, project_id = project
        response = await api.get(
            "/api/v1/files/download-url",
            params={"path": "nope.txt"},
            headers=viewer.in_project(project_id),
        )
        as_problem(response, 404)

    async def test_a_file_over_5_gib_is_sent_to_multipart(
        self, api: httpx.AsyncClient, project: Project, as_problem: Problem
    ) -> None:
        editor, _, project_id = project
        response = await api.post(
            "/api/v1/files/upload-url",
            json={"path": "big.bam", "size": 6 * 1024**3},
            headers=editor.in_project(project_id),
        )
        assert "multipart" in as_problem(response, 400)["detail"]


class TestSignedUploadConditions:
    """What the URL signs, S3 enforces; moto enforces none of it (see the module's notes).

    So each test checks the signature the way S3 does (``s3_signature``, SigV4 from the spec):
    the request the ticket describes passes, and moto stores it; a request that departs from what
    was signed fails the check, which on S3 is a 403 SignatureDoesNotMatch and nothing stored.
    """

    async def ticket(self, api: httpx.AsyncClient, project: Project, **fields: Any) -> Any:
        editor, _, project_id = project
        response = await api.post(
            "/api/v1/files/upload-url",
            json={"path": "raw/sample.fastq", **fields},
            headers=editor.in_project(project_id),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def test_size_is_signed(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        s3_signature: Callable[[httpx.Request], bool],
        s3_signed_headers: Callable[[str], set[str]],
        stored_keys: Callable[[], list[str]],
    ) -> None:
        ticket = await self.ticket(api, project, size=len(FASTQ))
        assert "content-length" in s3_signed_headers(ticket["url"])
        bigger = web.build_request("PUT", ticket["url"], content=FASTQ + b"X")
        smaller = web.build_request("PUT", ticket["url"], content=FASTQ[:-1])
        honest = web.build_request("PUT", ticket["url"], content=FASTQ, headers=ticket["headers"])

        assert not s3_signature(bigger)
        assert not s3_signature(smaller)
        assert s3_signature(honest)
        assert (await web.send(honest)).status_code == 200
        assert len(stored_keys()) == 1

    async def test_sha256_is_signed_as_the_s3_checksum_header(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        s3_signature: Callable[[httpx.Request], bool],
        s3_signed_headers: Callable[[str], set[str]],
    ) -> None:
        digest = hashlib.sha256(FASTQ).digest()
        ticket = await self.ticket(api, project, size=len(FASTQ), sha256=digest.hex())
        assert ticket["headers"]["x-amz-checksum-sha256"] == base64.b64encode(digest).decode()
        assert "x-amz-checksum-sha256" in s3_signed_headers(ticket["url"])
        other = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
        swapped = web.build_request(
            "PUT",
            ticket["url"],
            content=b"other",
            headers={**ticket["headers"], "Content-Length": "5", "x-amz-checksum-sha256": other},
        )
        honest = web.build_request("PUT", ticket["url"], content=FASTQ, headers=ticket["headers"])

        assert not s3_signature(swapped)
        assert s3_signature(honest)
        assert (await web.send(honest)).status_code == 200

    async def test_md5_is_signed_as_content_md5(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        s3_signature: Callable[[httpx.Request], bool],
        s3_signed_headers: Callable[[str], set[str]],
    ) -> None:
        digest = hashlib.md5(FASTQ, usedforsecurity=False).digest()
        ticket = await self.ticket(api, project, md5=digest.hex(), content_type="text/plain")
        assert ticket["headers"] == {
            "Content-MD5": base64.b64encode(digest).decode(),
            "Content-Type": "text/plain",
        }
        assert {"content-md5", "content-type"} <= s3_signed_headers(ticket["url"])
        without_md5 = web.build_request(
            "PUT", ticket["url"], content=FASTQ, headers={"Content-Type": "text/plain"}
        )
        honest = web.build_request("PUT", ticket["url"], content=FASTQ, headers=ticket["headers"])

        assert not s3_signature(without_md5)
        assert s3_signature(honest)
        assert (await web.send(honest)).status_code == 200

    async def test_the_object_key_is_signed(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        s3_signature: Callable[[httpx.Request], bool],
    ) -> None:
        ticket = await self.ticket(api, project, size=len(FASTQ))
        elsewhere = ticket["url"].replace("raw/sample.fastq", "raw/other.fastq")
        moved = web.build_request("PUT", elsewhere, content=FASTQ, headers=ticket["headers"])

        assert not s3_signature(moved)


class TestListingAndStat:
    async def test_folders_then_files_sorted(
        self, api: httpx.AsyncClient, project: Project, upload: Any
    ) -> None:
        editor, _, project_id = project
        for path in ["raw/b.fastq", "raw/a.fastq", "raw/lane2/c.fastq", "results/x.vcf"]:
            await upload(path, FASTQ[:100])
        created = await api.post(
            "/api/v1/files/folders",
            json={"path": "raw/empty"},
            headers=editor.in_project(project_id),
        )
        assert created.status_code == 201, created.text

        assert await entries(api, project, "") == ["raw/", "results/"]
        assert await entries(api, project, "raw/") == [
            "raw/empty/",
            "raw/lane2/",
            "raw/a.fastq",
            "raw/b.fastq",
        ]
        assert await entries(api, project, "raw/empty/") == []

    async def test_listing_a_missing_folder_is_404(
        self, api: httpx.AsyncClient, project: Project, as_problem: Problem
    ) -> None:
        _, viewer, project_id = project
        response = await api.get(
            "/api/v1/files", params={"path": "nothing/"}, headers=viewer.in_project(project_id)
        )
        as_problem(response, 404)

    async def test_stat_file_and_folder(
        self, api: httpx.AsyncClient, project: Project, upload: Any
    ) -> None:
        _, viewer, project_id = project
        await upload("raw/a.fastq", FASTQ)
        file = await api.get(
            "/api/v1/files/stat",
            params={"path": "raw/a.fastq"},
            headers=viewer.in_project(project_id),
        )
        folder = await api.get(
            "/api/v1/files/stat", params={"path": "raw"}, headers=viewer.in_project(project_id)
        )

        assert file.status_code == 200, file.text
        assert file.json()["kind"] == "file"
        assert file.json()["size"] == len(FASTQ)
        assert file.json()["etag"] == hashlib.md5(FASTQ, usedforsecurity=False).hexdigest()
        assert folder.status_code == 200, folder.text
        assert (folder.json()["path"], folder.json()["kind"]) == ("raw/", "folder")


class TestCopyMoveDelete:
    async def test_copy_a_file(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        await upload("raw/a.fastq", FASTQ)
        response = await api.post(
            "/api/v1/files/copy",
            json={"src": "raw/a.fastq", "dst": "backup/a.fastq"},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 1
        prefix = f"projects/{project_id}/"
        assert sorted(stored_keys()) == [prefix + "backup/a.fastq", prefix + "raw/a.fastq"]

    async def test_overwrite_false_is_409_and_true_replaces(
        self,
        api: httpx.AsyncClient,
        web: httpx.AsyncClient,
        project: Project,
        upload: Any,
        as_problem: Problem,
    ) -> None:
        editor, viewer, project_id = project
        await upload("a.txt", b"new")
        await upload("b.txt", b"old")
        refused = await api.post(
            "/api/v1/files/copy",
            json={"src": "a.txt", "dst": "b.txt"},
            headers=editor.in_project(project_id),
        )
        assert "overwrite=true" in as_problem(refused, 409)["detail"]
        refused_move = await api.post(
            "/api/v1/files/move",
            json={"src": "a.txt", "dst": "b.txt"},
            headers=editor.in_project(project_id),
        )
        as_problem(refused_move, 409)

        replaced = await api.post(
            "/api/v1/files/copy",
            json={"src": "a.txt", "dst": "b.txt", "overwrite": True},
            headers=editor.in_project(project_id),
        )

        assert replaced.status_code == 200, replaced.text
        link = await api.get(
            "/api/v1/files/download-url",
            params={"path": "b.txt"},
            headers=viewer.in_project(project_id),
        )
        assert (await web.get(link.json()["url"])).content == b"new"

    async def test_move_a_file_keeps_its_folder(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        await upload("inbox/a.fastq", FASTQ)
        response = await api.post(
            "/api/v1/files/move",
            json={"src": "inbox/a.fastq", "dst": "done/a.fastq"},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 200, response.text
        prefix = f"projects/{project_id}/"
        assert sorted(stored_keys()) == [prefix + "done/a.fastq", prefix + "inbox/"]
        assert await entries(api, project, "") == ["done/", "inbox/"]
        assert await entries(api, project, "inbox/") == []

    async def test_move_a_folder(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        await upload("run1/a.fastq", b"a")
        await upload("run1/lane1/b.fastq", b"b")
        response = await api.post(
            "/api/v1/files/move",
            json={"src": "run1", "dst": "archive/run1"},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 2
        prefix = f"projects/{project_id}/"
        assert sorted(stored_keys()) == [
            prefix + "archive/run1/",
            prefix + "archive/run1/a.fastq",
            prefix + "archive/run1/lane1/b.fastq",
        ]
        assert await entries(api, project, "") == ["archive/"]

    async def test_delete_a_file_keeps_its_folder(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        await upload("raw/a.fastq", FASTQ)
        response = await api.delete(
            "/api/v1/files", params={"path": "raw/a.fastq"}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 1
        assert stored_keys() == [f"projects/{project_id}/raw/"]
        assert await entries(api, project, "raw/") == []

    async def test_delete_a_folder(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        editor, _, project_id = project
        await upload("raw/a.fastq", b"a")
        await upload("raw/lane1/b.fastq", b"b")
        await upload("keep.txt", b"k")
        await api.post(
            "/api/v1/files/folders",
            json={"path": "raw/empty"},
            headers=editor.in_project(project_id),
        )
        response = await api.delete(
            "/api/v1/files", params={"path": "raw"}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 2
        assert stored_keys() == [f"projects/{project_id}/keep.txt"]

    async def test_delete_of_nothing_is_404(
        self, api: httpx.AsyncClient, project: Project, as_problem: Problem
    ) -> None:
        editor, _, project_id = project
        response = await api.delete(
            "/api/v1/files", params={"path": "ghost"}, headers=editor.in_project(project_id)
        )
        as_problem(response, 404)


class TestProjectConfinement:
    BAD_PATHS = [
        "../escape.txt",
        "raw/../../escape.txt",
        "/etc/passwd",
        "%2e%2e/escape.txt",
        "%252e%252e%252fescape.txt",
        "raw\\..\\escape.txt",
        "raw/\x00.txt",
        "a" * 300,
    ]

    @pytest.mark.parametrize("path", BAD_PATHS)
    async def test_escapes_are_refused_on_every_route(
        self,
        api: httpx.AsyncClient,
        project: Project,
        upload: Any,
        as_problem: Problem,
        stored_keys: Callable[[], list[str]],
        path: str,
    ) -> None:
        editor, _, project_id = project
        headers = editor.in_project(project_id)
        await upload("raw/a.fastq", b"a")
        calls: list[Call] = [
            ("POST", "/api/v1/files/upload-url", {"json": {"path": path, "size": 1}}),
            ("POST", "/api/v1/files/folders", {"json": {"path": path}}),
            ("POST", "/api/v1/files/copy", {"json": {"src": "raw", "dst": path}}),
            ("POST", "/api/v1/files/move", {"json": {"src": path, "dst": "x"}}),
            ("GET", "/api/v1/files/download-url", {"params": {"path": path}}),
            ("GET", "/api/v1/files/stat", {"params": {"path": path}}),
            ("GET", "/api/v1/files", {"params": {"path": path}}),
            ("DELETE", "/api/v1/files", {"params": {"path": path}}),
        ]
        for method, url, arguments in calls:
            as_problem(await api.request(method, url, headers=headers, **arguments), 400)
        # (the autouse check also asserts that every key is under this project)
        assert stored_keys() == [f"projects/{project_id}/raw/a.fastq"]


class TestStorageFailures:
    REQUESTS: list[Call] = [
        ("GET", "/api/v1/files", {"params": {"path": ""}}),
        ("GET", "/api/v1/files/download-url", {"params": {"path": "a.txt"}}),
        ("POST", "/api/v1/files/upload-url", {"json": {"path": "a.txt", "size": 1}}),
    ]

    async def assert_unavailable(
        self,
        api: httpx.AsyncClient,
        project: Project,
        as_problem: Problem,
        *,
        budget: float,
        requests: int = len(REQUESTS),
    ) -> list[str]:
        """Reading, signing and writing routes each answer 503 problem+json within budget."""
        editor, _, project_id = project
        details = []
        for method, url, arguments in self.REQUESTS[:requests]:
            started = time.monotonic()
            response = await api.request(
                method, url, headers=editor.in_project(project_id), **arguments
            )
            assert time.monotonic() - started < budget
            details.append(as_problem(response, 503)["detail"])
        return details

    async def test_endpoint_down_is_a_quick_503(
        self,
        s3_api: Any,
        s3_settings: Settings,
        project: Project,
        as_problem: Problem,
        closed_port: int,
    ) -> None:
        settings = s3_settings.model_copy(
            update={"S3_ENDPOINT_URL": AnyHttpUrl(f"http://127.0.0.1:{closed_port}")}
        )
        async with s3_api(settings) as api:
            details = await self.assert_unavailable(api, project, as_problem, budget=5)
        assert all("Cannot reach the S3 storage" in detail for detail in details)

    async def test_a_silent_endpoint_times_out_into_a_503(
        self,
        s3_api: Any,
        s3_settings: Settings,
        project: Project,
        as_problem: Problem,
        silent_endpoint: str,
    ) -> None:
        settings = s3_settings.model_copy(
            update={
                "S3_ENDPOINT_URL": AnyHttpUrl(silent_endpoint),
                "S3_CONNECT_TIMEOUT_SECONDS": 0.5,
            }
        )
        async with s3_api(settings) as api:
            # three tries of 0.5 s plus standard-mode backoff (at most 1 s, then 2 s)
            details = await self.assert_unavailable(api, project, as_problem, budget=10, requests=2)
        assert all("ReadTimeoutError" in detail for detail in details)

    async def test_wrong_bucket_is_503_even_where_head_says_404(
        self, s3_api: Any, s3_settings: Settings, project: Project, as_problem: Problem
    ) -> None:
        settings = s3_settings.model_copy(update={"S3_BUCKET": "no-such-bucket"})
        async with s3_api(settings) as api:
            details = await self.assert_unavailable(api, project, as_problem, budget=15)
        assert all("'no-such-bucket' does not exist" in detail for detail in details)

    async def test_bad_credentials_are_503(
        self,
        s3_api: Any,
        s3_settings: Settings,
        project: Project,
        as_problem: Problem,
        moto_with_auth: str,
    ) -> None:
        settings = s3_settings.model_copy(
            update={
                "S3_ENDPOINT_URL": AnyHttpUrl(moto_with_auth),
                "S3_SECRET_ACCESS_KEY": SecretStr("wrong"),
            }
        )
        async with s3_api(settings) as api:
            details = await self.assert_unavailable(api, project, as_problem, budget=15)
        assert all("refused our credentials" in detail for detail in details)
