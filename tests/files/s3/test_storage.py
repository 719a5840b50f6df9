"""S3Storage itself, against moto over real HTTP: what the API tests do not reach directly."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from nfhub_files.config import Settings
from nfhub_files.storage.base import PartInfo
from nfhub_files.storage.errors import ObjectNotFound, StorageUnavailable, UploadTooLarge
from nfhub_files.storage.s3 import READ_CHUNK, InvalidUploadParts, S3Storage
from nfhub_shared.errors import BadRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MIB = 1024**2


def blob(size: int, seed: bytes = b"") -> bytes:
    """``size`` bytes that differ from part to part (so a misplaced part shows)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() * 1024
        counter += 1
    return bytes(out[:size])


async def stream(data: bytes, chunk: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


def pending_uploads(moto_s3: S3Client, bucket: str) -> list[str]:
    return [
        item["Key"] for item in moto_s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    ]


class TestMultipart:
    async def test_resume_then_complete_with_the_parts_etags(
        self,
        storage: S3Storage,
        prefix: str,
        web: httpx.AsyncClient,
        moto_s3: S3Client,
        bucket: str,
    ) -> None:
        key = prefix + "big/reads.fastq.gz"
        data = blob(10 * MIB + 1234)
        chunks = [data[: 5 * MIB], data[5 * MIB : 10 * MIB], data[10 * MIB :]]
        upload_id = await storage.start_multipart(key, content_type="application/gzip")

        async def put(number: int) -> str:
            signed = await storage.presign_part(
                key, upload_id, number, expires_in=60, size=len(chunks[number - 1])
            )
            assert signed.headers == {"Content-Length": str(len(chunks[number - 1]))}
            response = await web.put(signed.url, content=chunks[number - 1], headers=signed.headers)
            assert response.status_code == 200, response.text
            return response.headers["ETag"]

        first_etag = await put(1)
        # The client was interrupted: it asks which parts the store holds, then sends the rest.
        storage.list_page_size = 1  # and ListParts has to be paged through
        held = await storage.list_parts(key, upload_id)
        assert [(part.part_number, part.size) for part in held] == [(1, 5 * MIB)]
        assert held[0].etag == first_etag.strip('"')
        await put(2)
        await put(3)
        parts = await storage.list_parts(key, upload_id)
        assert [part.part_number for part in parts] == [1, 2, 3]
        assert [part.etag for part in parts] == [
            hashlib.md5(chunk, usedforsecurity=False).hexdigest() for chunk in chunks
        ]

        info = await storage.complete_multipart(key, upload_id, list(reversed(parts)))

        assert (info.key, info.size) == (key, len(data))
        assert info.etag is not None
        assert info.etag.endswith("-3")
        assert info.content_type == "application/gzip"
        url = await storage.presign_get(key, expires_in=60, filename="reads.fastq.gz")
        assert (await web.get(url)).content == data
        assert pending_uploads(moto_s3, bucket) == []

    async def test_part_urls_sign_the_part_size(
        self,
        storage: S3Storage,
        prefix: str,
        web: httpx.AsyncClient,
        s3_signature: Callable[[httpx.Request], bool],
    ) -> None:
        key = prefix + "big.bin"
        upload_id = await storage.start_multipart(key, content_type=None)
        signed = await storage.presign_part(key, upload_id, 1, expires_in=60, size=5 * MIB)

        assert s3_signature(web.build_request("PUT", signed.url, content=blob(5 * MIB)))
        assert not s3_signature(web.build_request("PUT", signed.url, content=blob(5 * MIB + 1)))
        await storage.abort_multipart(key, upload_id)

    async def test_a_wrong_etag_is_refused(
        self,
        storage: S3Storage,
        prefix: str,
        web: httpx.AsyncClient,
        moto_s3: S3Client,
        bucket: str,
    ) -> None:
        key = prefix + "big.bin"
        upload_id = await storage.start_multipart(key, content_type=None)
        signed = await storage.presign_part(key, upload_id, 1, expires_in=60, size=100)
        await web.put(signed.url, content=blob(100), headers=signed.headers)
        [part] = await storage.list_parts(key, upload_id)

        with pytest.raises(InvalidUploadParts):
            await storage.complete_multipart(key, upload_id, [PartInfo(1, part.size, "0" * 32)])
        assert await storage.stat(key) is None
        await storage.abort_multipart(key, upload_id)
        assert pending_uploads(moto_s3, bucket) == []

    async def test_parts_under_5_mib_but_the_last_are_refused(
        self, storage: S3Storage, prefix: str, web: httpx.AsyncClient
    ) -> None:
        key = prefix + "small-parts.bin"
        upload_id = await storage.start_multipart(key, content_type=None)
        for number in (1, 2):
            signed = await storage.presign_part(key, upload_id, number, expires_in=60, size=10)
            await web.put(signed.url, content=blob(10), headers=signed.headers)

        with pytest.raises(InvalidUploadParts, match="at least 5 MiB"):
            await storage.complete_multipart(
                key, upload_id, await storage.list_parts(key, upload_id)
            )
        await storage.abort_multipart(key, upload_id)

    async def test_abort_drops_the_parts(
        self,
        storage: S3Storage,
        prefix: str,
        web: httpx.AsyncClient,
        moto_s3: S3Client,
        bucket: str,
    ) -> None:
        key = prefix + "big.bin"
        upload_id = await storage.start_multipart(key, content_type=None)
        signed = await storage.presign_part(key, upload_id, 1, expires_in=60, size=100)
        await web.put(signed.url, content=blob(100), headers=signed.headers)

        await storage.abort_multipart(key, upload_id)

        assert pending_uploads(moto_s3, bucket) == []
        with pytest.raises(ObjectNotFound, match="completed or aborted"):
            await storage.list_parts(key, upload_id)
        await storage.abort_multipart(key, upload_id)  # again: a no-op, as on local disk
        assert await storage.stat(key) is None

    async def test_part_numbers_outside_1_to_10000_are_refused(
        self, storage: S3Storage, prefix: str
    ) -> None:
        for number in (0, 10_001):
            with pytest.raises(BadRequest, match="Part numbers run from 1 to 10000"):
                await storage.presign_part(prefix + "x", "id", number, expires_in=60, size=1)


class TestWriteAndRead:
    async def test_a_small_stream_is_one_put_and_reads_back_in_chunks(
        self, storage: S3Storage, prefix: str
    ) -> None:
        data = blob(3 * MIB + 7)
        info = await storage.write(prefix + "a.bin", stream(data))

        assert info.size == len(data)
        assert info.etag == hashlib.md5(data, usedforsecurity=False).hexdigest()
        chunks = [chunk async for chunk in storage.read(prefix + "a.bin")]
        assert b"".join(chunks) == data
        assert len(chunks) > 1
        assert max(len(chunk) for chunk in chunks) <= READ_CHUNK

    async def test_a_large_stream_goes_up_in_parts(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        data = blob(17 * MIB)
        info = await storage.write(prefix + "archive.zip", stream(data, MIB))

        assert info.size == len(data)
        assert info.etag is not None
        assert info.etag.endswith("-3")  # 8 MiB + 8 MiB + 1 MiB
        body = moto_s3.get_object(Bucket=bucket, Key=prefix + "archive.zip")["Body"].read()
        assert body == data
        assert pending_uploads(moto_s3, bucket) == []

    async def test_a_failing_stream_leaves_nothing(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        async def broken() -> AsyncIterator[bytes]:
            async for chunk in stream(blob(9 * MIB), MIB):
                yield chunk
            raise RuntimeError("the zip builder failed")

        with pytest.raises(RuntimeError):
            await storage.write(prefix + "archive.zip", broken())

        assert await storage.stat(prefix + "archive.zip") is None
        assert pending_uploads(moto_s3, bucket) == []

    async def test_a_stream_over_the_limit_is_refused_and_nothing_kept(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        storage.max_object_bytes = 9 * MIB
        with pytest.raises(UploadTooLarge):
            await storage.write(prefix + "big.bin", stream(blob(10 * MIB), MIB))

        assert await storage.stat(prefix + "big.bin") is None
        assert pending_uploads(moto_s3, bucket) == []

    async def test_reading_a_missing_object_is_not_found(
        self, storage: S3Storage, prefix: str
    ) -> None:
        with pytest.raises(ObjectNotFound):
            async for _ in storage.read(prefix + "missing.bin"):
                pass


class TestCopy:
    async def test_a_big_object_is_copied_in_parts_with_its_metadata(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        data = blob(11 * MIB)
        moto_s3.put_object(Bucket=bucket, Key=prefix + "a.bam", Body=data, ContentType="x/bam")
        storage.copy_threshold = storage.copy_part_bytes = 5 * MIB

        await storage.copy_object(prefix + "a.bam", prefix + "b.bam")

        copied = moto_s3.get_object(Bucket=bucket, Key=prefix + "b.bam")
        assert copied["Body"].read() == data
        assert copied["ContentType"] == "x/bam"
        assert copied["ETag"].strip('"').endswith("-3")  # the multipart path was taken

    async def test_copying_a_missing_object_is_not_found(
        self, storage: S3Storage, prefix: str
    ) -> None:
        with pytest.raises(ObjectNotFound):
            await storage.copy_object(prefix + "nope", prefix + "b")


class TestListing:
    async def test_children_are_listed_across_pages_folders_and_files_sorted(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        for key in ["raw/", "raw/b.txt", "raw/a.txt", "raw/c/", "raw/d/x.txt", "raw/e/f/g.txt"]:
            moto_s3.put_object(
                Bucket=bucket, Key=prefix + key, Body=b"" if key[-1] == "/" else b"1"
            )
        storage.list_page_size = 2

        listing = await storage.list_children(prefix + "raw/")

        assert listing.folders == [prefix + "raw/c/", prefix + "raw/d/", prefix + "raw/e/"]
        assert [info.key for info in listing.objects] == [
            prefix + "raw/a.txt",
            prefix + "raw/b.txt",
        ]
        assert {info.size for info in listing.objects} == {1}

    async def test_a_page_takes_folders_first_then_files(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        for key in ["f1/", "f2/", "a.txt", "b.txt", "c.txt"]:
            moto_s3.put_object(Bucket=bucket, Key=prefix + key, Body=b"")

        listing, total = await storage.list_page(prefix, offset=1, limit=3)

        assert total == 5
        assert listing.folders == [prefix + "f2/"]
        assert [info.key for info in listing.objects] == [prefix + "a.txt", prefix + "b.txt"]
        last, _ = await storage.list_page(prefix, offset=4, limit=3)
        assert (last.folders, [info.key for info in last.objects]) == ([], [prefix + "c.txt"])

    async def test_iter_objects_is_recursive_in_key_order_without_folder_markers(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        for key in ["run/", "run/z.txt", "run/a/", "run/a/b.txt", "run/a/c/d.txt", "runner.txt"]:
            moto_s3.put_object(Bucket=bucket, Key=prefix + key, Body=b"")
        storage.list_page_size = 2

        keys = [info.key async for info in storage.iter_objects(prefix + "run/")]

        assert keys == [prefix + "run/a/b.txt", prefix + "run/a/c/d.txt", prefix + "run/z.txt"]

    async def test_a_folder_exists_by_marker_or_by_content(
        self, storage: S3Storage, prefix: str, moto_s3: S3Client, bucket: str
    ) -> None:
        moto_s3.put_object(Bucket=bucket, Key=prefix + "empty/", Body=b"")
        moto_s3.put_object(Bucket=bucket, Key=prefix + "implicit/x.txt", Body=b"x")

        assert await storage.folder_exists(prefix + "empty/")
        assert await storage.folder_exists(prefix + "implicit/")
        assert not await storage.folder_exists(prefix + "impl/")
        assert await storage.stat(prefix + "empty") is None
        assert await storage.stat(prefix + "implicit") is None

    async def test_delete_folder_pages_through_everything_and_keeps_the_parent(
        self,
        storage: S3Storage,
        prefix: str,
        moto_s3: S3Client,
        bucket: str,
        stored_keys: Callable[[], list[str]],
    ) -> None:
        inside = ["a/run/", "a/run/1.txt", "a/run/2.txt", "a/run/x/", "a/run/x/3.txt", "a/run/y/4"]
        for key in [*inside, "a/run.txt", "a/runs/5.txt"]:
            moto_s3.put_object(Bucket=bucket, Key=prefix + key, Body=b"")
        storage.list_page_size = 2

        await storage.delete_folder(prefix + "a/run/")

        assert sorted(stored_keys()) == [
            prefix + "a/",
            prefix + "a/run.txt",
            prefix + "a/runs/5.txt",
        ]

    async def test_keys_a_url_would_rewrite_are_refused(
        self, storage: S3Storage, prefix: str
    ) -> None:
        for key in [prefix + "../x", prefix + "a/./b", "/" + prefix + "x", prefix + "a//b"]:
            with pytest.raises(ObjectNotFound):
                await storage.stat(key)


class TestDownloadName:
    async def test_a_non_ascii_name_is_kept_and_has_an_ascii_fallback(
        self,
        storage: S3Storage,
        prefix: str,
        moto_s3: S3Client,
        bucket: str,
        web: httpx.AsyncClient,
    ) -> None:
        moto_s3.put_object(Bucket=bucket, Key=prefix + "r.txt", Body=b"r")
        url = await storage.presign_get(prefix + "r.txt", expires_in=60, filename='résumé "v2".txt')

        response = await web.get(url)

        assert response.headers["content-disposition"] == (
            'attachment; filename="r_sum_ _v2_.txt"; '
            "filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.txt"
        )


class TestCheckAndSettings:
    async def test_check_passes_on_the_bucket_and_fails_without_it(
        self, storage: S3Storage, s3_settings: Settings
    ) -> None:
        await storage.check()
        missing = S3Storage.from_settings(s3_settings.model_copy(update={"S3_BUCKET": "gone-1"}))
        try:
            with pytest.raises(StorageUnavailable, match="'gone-1' does not exist"):
                await missing.check()
        finally:
            await missing.close()

    async def test_a_bucket_name_s3_forbids_is_a_503_naming_the_setting(
        self, s3_settings: Settings
    ) -> None:
        invalid = S3Storage.from_settings(s3_settings.model_copy(update={"S3_BUCKET": "a/b"}))
        try:
            with pytest.raises(StorageUnavailable, match="check FILES_S3_BUCKET"):
                await invalid.stat("projects/p/x")
        finally:
            await invalid.close()

    def test_incomplete_settings_are_refused_at_startup(self, s3_settings: Settings) -> None:
        with pytest.raises(ValueError, match="FILES_S3_BUCKET is required"):
            S3Storage.from_settings(s3_settings.model_copy(update={"S3_BUCKET": None}))
        with pytest.raises(ValueError, match="or neither"):
            S3Storage.from_settings(s3_settings.model_copy(update={"S3_SECRET_ACCESS_KEY": None}))
