"""The files service on the s3 backend, against moto in server mode over real HTTP.

moto serves S3 on 127.0.0.1 for the whole session; every test gets its own bucket, so what a test
finds in the bucket is exactly what it wrote. After each test that names a project, every key in
its bucket must lie under ``projects/<project_id>/``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import boto3
import httpx
import pytest
import pytest_asyncio
from botocore.config import Config
from moto.server import ThreadedMotoServer
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_files.config import Settings
from nfhub_files.main import create_app
from nfhub_files.storage.s3 import S3Storage
from support.ports import free_port

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
FILES_BASE_URL = "http://files.test"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_s3(moto_endpoint: str) -> S3Client:
    """A plain boto3 client on moto, to look at the bucket behind the service's back."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


@pytest.fixture
def bucket(moto_s3: S3Client) -> str:
    name = f"nfhub-{uuid.uuid4().hex[:16]}"
    moto_s3.create_bucket(Bucket=name)
    return name


def bucket_keys(client: S3Client, bucket: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


@pytest.fixture(autouse=True)
def _stays_in_project(request: pytest.FixtureRequest) -> Iterator[None]:
    """Nothing a test does may write outside its project's prefix."""
    names = request.fixturenames
    if "bucket" not in names or not ({"project", "prefix"} & set(names)):
        yield
        return
    # Resolved now: at teardown the project fixture is already gone.
    if "project" in names:
        prefix = f"projects/{request.getfixturevalue('project')[2]}/"
    else:
        prefix = request.getfixturevalue("prefix")
    client, bucket = request.getfixturevalue("moto_s3"), request.getfixturevalue("bucket")
    yield
    outside = [key for key in bucket_keys(client, bucket) if not key.startswith(prefix)]
    assert outside == [], f"written outside {prefix}: {outside}"


@pytest.fixture
def s3_settings(files_settings: Settings, moto_endpoint: str, bucket: str) -> Settings:
    return files_settings.model_copy(
        update={
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": AnyHttpUrl(moto_endpoint),
            "S3_PATH_STYLE": True,
            "S3_ACCESS_KEY_ID": ACCESS_KEY,
            "S3_SECRET_ACCESS_KEY": SecretStr(SECRET_KEY),
        }
    )


ApiFactory = Callable[[Settings], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def s3_api(
    admin_transport: httpx.ASGITransport,
    session_factory: async_sessionmaker[AsyncSession],
) -> ApiFactory:
    """Start the files service with given settings; yields a client of its API."""

    @asynccontextmanager
    async def start(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings, http_transport=admin_transport)
        async with app.router.lifespan_context(app):
            app.state.sessionmaker = session_factory
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=FILES_BASE_URL) as client:
                yield client

    return start


@pytest_asyncio.fixture
async def api(s3_api: ApiFactory, s3_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with s3_api(s3_settings) as client:
        yield client


@pytest_asyncio.fixture
async def web() -> AsyncIterator[httpx.AsyncClient]:
    """What a user's script uses on the signed URLs: plain httpx over real HTTP."""
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest_asyncio.fixture
async def storage(s3_settings: Settings) -> AsyncIterator[S3Storage]:
    backend = S3Storage.from_settings(s3_settings)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def prefix() -> str:
    return f"projects/{uuid.uuid4()}/"


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connections are refused at once."""
    return free_port()


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """Accepts TCP connections (the kernel does) and never answers a byte."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture(scope="session")
def moto_with_auth() -> Iterator[str]:
    """A second moto that checks credentials (a process setting, hence its own process)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


def sigv4_accepts(request: httpx.Request, secret: str = SECRET_KEY) -> bool:
    """Whether S3 would accept this presigned request's signature (AWS SigV4, query auth).

    moto does not check presigned signatures, so the tests check them here, written from the
    SigV4 specification rather than with botocore: the canonical request is rebuilt from what the
    client actually sends (method, path, query, and the values of the signed headers).
    """
    params = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
    signature = params.pop("X-Amz-Signature")
    signed_names = params["X-Amz-SignedHeaders"].split(";")
    issued = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if datetime.now(UTC) > issued + timedelta(seconds=int(params["X-Amz-Expires"])):
        return False
    if any(name not in request.headers for name in signed_names):
        return False
    canonical_query = "&".join(
        sorted(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in params.items())
    )
    canonical_headers = "".join(
        f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed_names
    )
    canonical_request = "\n".join(
        [
            request.method,
            request.url.raw_path.split(b"?")[0].decode(),
            canonical_query,
            canonical_headers,
            params["X-Amz-SignedHeaders"],
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = params["X-Amz-Credential"].split("/", 1)[1]
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


@pytest.fixture
def s3_signature() -> Callable[[httpx.Request], bool]:
    return sigv4_accepts


@pytest.fixture
def s3_signed_headers() -> Callable[[str], set[str]]:
    """The header names a presigned URL signs."""

    def names(url: str) -> set[str]:
        query = dict(parse_qsl(httpx.URL(url).query.decode()))
        return set(query["X-Amz-SignedHeaders"].split(";"))

    return names


@pytest.fixture
def stored_keys(moto_s3: S3Client, bucket: str) -> Callable[[], list[str]]:
    """Every key in the test's bucket, read from moto directly."""
    return lambda: bucket_keys(moto_s3, bucket)


@pytest.fixture
def as_problem() -> Callable[[httpx.Response, int], dict[str, Any]]:
    def check(response: httpx.Response, status: int) -> dict[str, Any]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        return body

    return check


Upload = Callable[..., Any]


@pytest.fixture
def upload(api: httpx.AsyncClient, web: httpx.AsyncClient, project: tuple[Any, Any, Any]) -> Upload:
    """The two steps a user's script takes: ask for an upload URL, then PUT the bytes to it."""
    editor, _, project_id = project

    async def put(path: str, data: bytes, **fields: Any) -> httpx.Response:
        ticket = await api.post(
            "/api/v1/files/upload-url",
            json={"path": path, "size": len(data), **fields},
            headers=editor.in_project(project_id),
        )
        assert ticket.status_code == 200, ticket.text
        body = ticket.json()
        response = await web.put(body["url"], content=data, headers=body["headers"])
        assert response.status_code == 200, response.text
        return response

    return put
