"""S3Storage: the StorageBackend of objects in one S3 bucket (see the package docstring)."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import boto3
import structlog
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from nfhub_files.storage.base import Listing, ObjectInfo, PartInfo, SignedRequest
from nfhub_files.storage.errors import ObjectNotFound, StorageUnavailable, UploadTooLarge
from nfhub_files.storage.s3.errors import InvalidUploadParts, storage_error
from nfhub_files.storage.s3.values import (
    attachment,
    aware,
    b64_of_hex,
    check_key,
    folder_marker,
    object_info,
    sha256_hex,
    unquoted_etag,
)
from nfhub_shared.errors import AppError, BadRequest

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import (
        CompletedPartTypeDef,
        CopySourceTypeDef,
        HeadObjectOutputTypeDef,
        ListObjectsV2OutputTypeDef,
        ListPartsOutputTypeDef,
        ObjectIdentifierTypeDef,
        ObjectTypeDef,
    )

    from nfhub_files.config import Settings

T = TypeVar("T")

logger = structlog.get_logger("nfhub.files.s3")

READ_CHUNK = 1024 * 1024
# A single PUT (and a single CopyObject) is at most 5 GiB on S3; a part is at most 5 GiB too.
MAX_SINGLE_PUT_BYTES = 5 * 1024**3
MAX_PARTS = 10_000
# write(): parts start at 8 MiB and double every 1,000 parts, so small streams hold little memory
# and the 10,000-part limit still reaches S3's 5 TiB object limit.
WRITE_PART_BYTES = 8 * 1024**2
WRITE_PARTS_PER_DOUBLING = 1_000
DELETE_BATCH = 1_000
POOL_CONNECTIONS = 32
# CopyObject and CompleteMultipartUpload of large objects can take many seconds before S3
# answers, so the data-plane client waits longer per read than the control-plane client.
BULK_READ_TIMEOUT_SECONDS = 120.0
# HEAD answers a bare 404 both for a missing key and for a missing bucket; after a 404 the bucket
# is checked, at most this often.
BUCKET_CONFIRM_SECONDS = 30.0

# Folders inside a project (not the project itself, nor keys kept elsewhere, like archives).
_PROJECT_FOLDER = re.compile(r"^projects/[^/]+/.+/$")


class S3Storage:
    name = "s3"

    def __init__(
        self,
        client: S3Client,
        bulk_client: S3Client,
        *,
        bucket: str,
        endpoint: str,
        max_object_bytes: int,
        signs_offline: bool,
    ) -> None:
        self.client = client
        self.bulk_client = bulk_client
        self.bucket = bucket
        self.endpoint = endpoint
        self.max_object_bytes = max_object_bytes
        # Multipart copy above this size (a single CopyObject is at most 5 GiB and slow when big).
        self.copy_threshold = 256 * 1024**2
        self.copy_part_bytes = 256 * 1024**2
        self.list_page_size = 1000  # S3's maximum per ListObjectsV2 / ListParts page
        # With static keys presigning is pure computation; with a credential chain it may fetch
        # or refresh credentials over the network, so it goes to a thread.
        self._signs_offline = signs_offline
        self._limiter: anyio.CapacityLimiter | None = None
        self._bucket_confirmed_at = float("-inf")

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        if not settings.S3_BUCKET:
            raise ValueError("FILES_S3_BUCKET is required when FILES_STORAGE_BACKEND is 's3'.")
        access_key = settings.S3_ACCESS_KEY_ID
        secret = settings.S3_SECRET_ACCESS_KEY
        if (access_key is None) != (secret is None):
            raise ValueError(
                "Set both FILES_S3_ACCESS_KEY_ID and FILES_S3_SECRET_ACCESS_KEY, or neither "
                "(to use the default AWS credential chain)."
            )
        endpoint = str(settings.S3_ENDPOINT_URL).rstrip("/") if settings.S3_ENDPOINT_URL else None
        timeout = settings.S3_CONNECT_TIMEOUT_SECONDS
        session = boto3.session.Session(
            aws_access_key_id=access_key,
            aws_secret_access_key=secret.get_secret_value() if secret else None,
            region_name=settings.S3_REGION,
        )

        def client(read_timeout: float) -> S3Client:
            config = Config(
                signature_version="s3v4",
                connect_timeout=timeout,
                read_timeout=read_timeout,
                # "max_attempts" counts retries: at most three tries, each bounded by the timeouts.
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=POOL_CONNECTIONS,
                s3={"addressing_style": "path" if settings.S3_PATH_STYLE else "auto"},
            )
            return session.client("s3", endpoint_url=endpoint, config=config)

        return cls(
            client(timeout),
            client(max(timeout, BULK_READ_TIMEOUT_SECONDS)),
            bucket=settings.S3_BUCKET,
            endpoint=endpoint or f"AWS S3 ({settings.S3_REGION})",
            max_object_bytes=settings.MAX_OBJECT_BYTES,
            signs_offline=access_key is not None,
        )

    # -- plumbing ------------------------------------------------------------------------------

    async def _call(self, operation: Callable[[], T]) -> T:
        """Run one blocking botocore call in a worker thread, translating its failures."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(POOL_CONNECTIONS)
        try:
            return await anyio.to_thread.run_sync(operation, limiter=self._limiter)
        except (ClientError, BotoCoreError) as exc:
            raise storage_error(exc, bucket=self.bucket, endpoint=self.endpoint) from exc

    async def _presign(self, operation: str, params: dict[str, Any], expires_in: int) -> str:
        def sign() -> str:
            return self.client.generate_presigned_url(
                operation, Params={"Bucket": self.bucket, **params}, ExpiresIn=expires_in
            )

        if self._signs_offline:
            try:
                return sign()
            except BotoCoreError as exc:
                raise StorageUnavailable(f"Cannot sign S3 URLs ({type(exc).__name__}).") from exc
        return await self._call(sign)

    async def _confirm_bucket(self) -> None:
        if time.monotonic() - self._bucket_confirmed_at < BUCKET_CONFIRM_SECONDS:
            return
        try:
            await self._call(lambda: self.client.head_bucket(Bucket=self.bucket))
        except ObjectNotFound as exc:
            raise StorageUnavailable(
                f"The bucket {self.bucket!r} does not exist at {self.endpoint}; create it or fix "
                "FILES_S3_BUCKET."
            ) from exc
        self._bucket_confirmed_at = time.monotonic()

    async def _head(self, key: str) -> HeadObjectOutputTypeDef | None:
        key = check_key(key)
        try:
            return await self._call(
                lambda: self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            )
        except ObjectNotFound:
            await self._confirm_bucket()
            return None

    async def _list_pages(
        self, prefix: str, *, delimiter: str | None = None
    ) -> AsyncIterator[ListObjectsV2OutputTypeDef]:
        """ListObjectsV2 pages, following continuation tokens to the end."""
        arguments: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": prefix,
            "MaxKeys": self.list_page_size,
        }
        if delimiter:
            arguments["Delimiter"] = delimiter
        while True:
            page = await self._call(lambda: self.client.list_objects_v2(**arguments))
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            arguments["ContinuationToken"] = token

    async def _keep_folder(self, key: str) -> None:
        """Keep the folder a removed object lived in, as a file system (and local) would."""
        parent = key.rstrip("/").rpartition("/")[0] + "/"
        if _PROJECT_FOLDER.match(parent):
            await self.make_folder(parent)

    # -- reading -------------------------------------------------------------------------------

    async def check(self) -> None:
        self._bucket_confirmed_at = float("-inf")
        await self._confirm_bucket()

    async def stat(self, key: str, *, checksum: bool = True) -> ObjectInfo | None:
        # One HEAD answers everything, the checksum included, whatever ``checksum`` says.
        head = await self._head(key)
        if head is None:
            return None
        return ObjectInfo(
            key=key,
            size=head["ContentLength"],
            modified=aware(head["LastModified"]),
            etag=unquoted_etag(head.get("ETag")),
            sha256=sha256_hex(head.get("ChecksumSHA256"), head.get("ChecksumType")),
            content_type=head.get("ContentType"),
        )

    async def folder_exists(self, prefix: str) -> bool:
        prefix = check_key(folder_marker(prefix))
        page = await self._call(
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        )
        return bool(page.get("Contents"))

    async def list_children(self, prefix: str) -> Listing:
        folders, items = await self._children(prefix)
        return Listing(folders, [object_info(item) for item in items])

    async def list_page(self, prefix: str, *, offset: int, limit: int) -> tuple[Listing, int]:
        """S3 cannot count or skip, so every child is listed; only the page's become infos."""
        folders, items = await self._children(prefix)
        page_folders = folders[offset : offset + limit]
        item_offset = max(0, offset - len(folders))
        page_items = items[item_offset : item_offset + limit - len(page_folders)]
        listing = Listing(page_folders, [object_info(item) for item in page_items])
        return listing, len(folders) + len(items)

    async def _children(self, prefix: str) -> tuple[list[str], list[ObjectTypeDef]]:
        """Sub-folder prefixes and objects directly under ``prefix``, each sorted."""
        prefix = check_key(folder_marker(prefix))
        folders: list[str] = []
        items: list[ObjectTypeDef] = []
        async for page in self._list_pages(prefix, delimiter="/"):
            folders += [common["Prefix"] for common in page.get("CommonPrefixes", [])]
            # The folder's own marker is the folder, not one of its files.
            items += [item for item in page.get("Contents", []) if item["Key"] != prefix]
        folders.sort()
        items.sort(key=lambda item: item["Key"])
        return folders, items

    async def iter_objects(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        if not prefix.endswith("/"):
            info = await self.stat(prefix)
            if info is not None:
                yield info
                return
        async for page in self._list_pages(check_key(folder_marker(prefix))):
            for item in page.get("Contents", []):
                if not item["Key"].endswith("/"):  # folder markers are not files
                    yield object_info(item)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        key = check_key(key)
        response = await self._call(
            lambda: self.bulk_client.get_object(Bucket=self.bucket, Key=key)
        )
        body = response["Body"]
        try:
            while chunk := await self._call(lambda: body.read(READ_CHUNK)):
                yield chunk
        finally:
            body.close()

    # -- signed URLs ---------------------------------------------------------------------------

    async def presign_get(self, key: str, *, expires_in: int, filename: str) -> str:
        return await self._presign(
            "get_object",
            {"Key": check_key(key), "ResponseContentDisposition": attachment(filename)},
            expires_in,
        )

    async def presign_put(
        self,
        key: str,
        *,
        expires_in: int,
        size: int | None,
        content_type: str | None,
        sha256: str | None,
        md5: str | None,
    ) -> SignedRequest:
        """Every given property is a signed header, so S3 refuses a request that differs."""
        params: dict[str, Any] = {"Key": check_key(key)}
        headers: dict[str, str] = {}
        if size is not None:
            if size > MAX_SINGLE_PUT_BYTES:
                raise BadRequest(
                    f"A single upload to S3 is at most {MAX_SINGLE_PUT_BYTES} bytes (5 GiB); use "
                    f"a multipart upload for this {size}-byte file."
                )
            params["ContentLength"] = size
            headers["Content-Length"] = str(size)
        if content_type:
            params["ContentType"] = content_type
            headers["Content-Type"] = content_type
        if sha256:
            # S3 computes the body's SHA-256 and refuses the upload (BadDigest) when it differs.
            params["ChecksumSHA256"] = headers["x-amz-checksum-sha256"] = b64_of_hex(sha256)
        if md5:
            params["ContentMD5"] = headers["Content-MD5"] = b64_of_hex(md5)
        url = await self._presign("put_object", params, expires_in)
        return SignedRequest("PUT", url, headers)

    # -- writing -------------------------------------------------------------------------------

    async def make_folder(self, prefix: str) -> None:
        marker = check_key(folder_marker(prefix))
        await self._call(lambda: self.client.put_object(Bucket=self.bucket, Key=marker, Body=b""))

    async def copy_object(self, source: str, destination: str) -> None:
        destination = check_key(destination)
        head = await self._head(source)
        if head is None:
            raise ObjectNotFound(f"No file at {source}.")
        copy_source: CopySourceTypeDef = {"Bucket": self.bucket, "Key": source}
        if head["ContentLength"] <= self.copy_threshold:
            await self._call(
                lambda: self.bulk_client.copy_object(
                    Bucket=self.bucket, Key=destination, CopySource=copy_source
                )
            )
            return
        # Above 5 GiB CopyObject is refused; s3transfer copies in parts and keeps the metadata.
        config = TransferConfig(
            multipart_threshold=self.copy_threshold,
            multipart_chunksize=self.copy_part_bytes,
            max_concurrency=8,
        )
        await self._call(
            lambda: self.bulk_client.copy(copy_source, self.bucket, destination, Config=config)
        )

    async def move_object(self, source: str, destination: str) -> None:
        """Copy, then delete: S3 has no rename. A failure in between leaves both, never neither."""
        await self.copy_object(source, destination)
        await self.delete_object(source)

    async def delete_object(self, key: str) -> None:
        key = check_key(key)
        await self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        await self._keep_folder(key)

    async def delete_folder(self, prefix: str) -> None:
        prefix = check_key(folder_marker(prefix))
        # Page by page: each page's keys are deleted before the next page is fetched.
        async for page in self._list_pages(prefix):
            keys: list[ObjectIdentifierTypeDef] = [
                {"Key": item["Key"]} for item in page.get("Contents", [])
            ]
            for start in range(0, len(keys), DELETE_BATCH):
                await self._delete_batch(prefix, keys[start : start + DELETE_BATCH])
        await self._keep_folder(prefix)

    async def _delete_batch(self, prefix: str, keys: list[ObjectIdentifierTypeDef]) -> None:
        response = await self._call(
            lambda: self.client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
            )
        )
        if errors := response.get("Errors"):
            first = errors[0]
            raise StorageUnavailable(
                f"S3 did not delete {len(errors)} object(s) under {prefix}, e.g. "
                f"{first.get('Key')} ({first.get('Code')}); try again."
            )

    async def write(self, key: str, chunks: AsyncIterator[bytes]) -> ObjectInfo:
        """One PUT when the stream is small, else a multipart upload, aborted on any failure."""
        key = check_key(key)
        pending: list[bytes] = []
        buffered = received = 0
        upload_id: str | None = None
        parts: list[PartInfo] = []
        try:
            async for chunk in chunks:
                received += len(chunk)
                if received > self.max_object_bytes:
                    raise UploadTooLarge
                pending.append(chunk)
                buffered += len(chunk)
                if buffered >= _write_part_bytes(len(parts)):
                    if upload_id is None:
                        upload_id = await self.start_multipart(key, content_type=None)
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, pending))
                    pending, buffered = [], 0
            if upload_id is None:
                body = b"".join(pending)
                await self._call(
                    lambda: self.bulk_client.put_object(Bucket=self.bucket, Key=key, Body=body)
                )
            else:
                if pending:
                    parts.append(await self._upload_part(key, upload_id, len(parts) + 1, pending))
                await self.complete_multipart(key, upload_id, parts)
        except BaseException:
            if upload_id is not None:
                with anyio.CancelScope(shield=True):
                    await self._abort_quietly(key, upload_id)
            raise
        info = await self.stat(key)
        if info is None:
            raise StorageUnavailable(f"S3 accepted {key} but does not show it; try again.")
        return info

    async def _upload_part(
        self, key: str, upload_id: str, part_number: int, pending: list[bytes]
    ) -> PartInfo:
        body = b"".join(pending)
        response = await self._call(
            lambda: self.bulk_client.upload_part(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=part_number,
                Body=body,
            )
        )
        return PartInfo(part_number, len(body), unquoted_etag(response.get("ETag")) or "")

    async def _abort_quietly(self, key: str, upload_id: str) -> None:
        try:
            await self.abort_multipart(key, upload_id)
        except AppError as exc:
            # S3 lifecycle rules (AbortIncompleteMultipartUpload) reclaim what is left.
            logger.warning("s3.abort_failed", key=key, upload_id=upload_id, error=exc.detail)

    # -- multipart -----------------------------------------------------------------------------

    async def start_multipart(
        self, key: str, *, content_type: str | None, part_size: int | None = None
    ) -> str:
        key = check_key(key)
        if content_type:
            response = await self._call(
                lambda: self.client.create_multipart_upload(
                    Bucket=self.bucket, Key=key, ContentType=content_type
                )
            )
        else:
            response = await self._call(
                lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
            )
        return response["UploadId"]

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, *, expires_in: int, size: int
    ) -> SignedRequest:
        if not 1 <= part_number <= MAX_PARTS:
            raise BadRequest(f"Part numbers run from 1 to {MAX_PARTS}; got {part_number}.")
        if not 0 <= size <= MAX_SINGLE_PUT_BYTES:
            raise BadRequest(
                f"A part is at most {MAX_SINGLE_PUT_BYTES} bytes (5 GiB); got {size}; use more "
                "parts."
            )
        params = {
            "Key": check_key(key),
            "UploadId": upload_id,
            "PartNumber": part_number,
            "ContentLength": size,
        }
        url = await self._presign("upload_part", params, expires_in)
        return SignedRequest("PUT", url, {"Content-Length": str(size)})

    async def list_parts(self, key: str, upload_id: str) -> list[PartInfo]:
        key = check_key(key)
        parts: list[PartInfo] = []
        marker = 0
        while True:
            page = await self._parts_page(key, upload_id, marker)
            parts += [
                PartInfo(part["PartNumber"], part["Size"], unquoted_etag(part["ETag"]) or "")
                for part in page.get("Parts", [])
            ]
            next_marker = page.get("NextPartNumberMarker", 0)
            if not page.get("IsTruncated") or next_marker <= marker:
                return parts
            marker = next_marker

    async def _parts_page(self, key: str, upload_id: str, marker: int) -> ListPartsOutputTypeDef:
        return await self._call(
            lambda: self.client.list_parts(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
                MaxParts=self.list_page_size,
            )
        )

    async def complete_multipart(
        self, key: str, upload_id: str, parts: list[PartInfo]
    ) -> ObjectInfo:
        key = check_key(key)
        if not parts:
            raise InvalidUploadParts("Upload at least one part before completing the upload.")
        ordered = sorted(parts, key=lambda part: part.part_number)
        manifest: list[CompletedPartTypeDef] = [
            {"PartNumber": part.part_number, "ETag": '"' + part.etag.strip('"') + '"'}
            for part in ordered
        ]
        await self._call(
            lambda: self.bulk_client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": manifest},
            )
        )
        info = await self.stat(key)
        if info is None:
            raise StorageUnavailable(f"S3 completed {key} but does not show it; try again.")
        return info

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        key = check_key(key)
        try:
            await self._call(
                lambda: self.client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id
                )
            )
        except ObjectNotFound:
            return  # already completed or aborted: aborting again is a no-op, as on local

    async def close(self) -> None:
        self.client.close()
        self.bulk_client.close()


def _write_part_bytes(parts_done: int) -> int:
    return WRITE_PART_BYTES << (parts_done // WRITE_PARTS_PER_DOUBLING)
