"""Short-lived, prefix-scoped S3 credentials from STS, against moto in server mode over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import httpx
import pytest
import pytest_asyncio
from moto.server import ThreadedMotoServer
from pydantic import AnyHttpUrl, SecretStr

from nfhub_admin.projects.credentials import prefix_policy
from nfhub_shared.auth.principal import ProjectRole
from support.ports import free_port

BUCKET = "nfhub-sts"
ROLE_ARN = "arn:aws:iam::123456789012:role/nfhub-projects"


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    ).create_bucket(Bucket=BUCKET)  # fmt: skip
    yield url
    server.stop()


S3_SETTINGS: dict[str, Any] = {
    "STORAGE_BACKEND": "s3",
    "STORAGE_BUCKET": BUCKET,
    "STORAGE_REGION": "us-east-1",
    "STORAGE_STS_ROLE_ARN": ROLE_ARN,
    "STORAGE_ACCESS_KEY_ID": "testing",
    "STORAGE_SECRET_ACCESS_KEY": SecretStr("testing"),
}


@pytest_asyncio.fixture
async def s3_admin(make_admin, moto_url) -> AsyncIterator[httpx.AsyncClient]:
    async with make_admin(**S3_SETTINGS, STORAGE_ENDPOINT_URL=AnyHttpUrl(moto_url)) as client:
        yield client


class TestPrefixPolicy:
    def test_viewers_read_only_under_the_prefix(self) -> None:
        policy = prefix_policy(BUCKET, "projects/p1/", ProjectRole.viewer)
        objects, listing = policy["Statement"]
        assert objects["Resource"] == f"arn:aws:s3:::{BUCKET}/projects/p1/*"
        assert "s3:GetObject" in objects["Action"]
        assert "s3:PutObject" not in objects["Action"]
        assert "s3:DeleteObject" not in objects["Action"]
        assert listing["Condition"] == {"StringLike": {"s3:prefix": ["projects/p1/*"]}}

    def test_editors_may_also_write_under_the_prefix(self) -> None:
        policy = prefix_policy(BUCKET, "projects/p1/", ProjectRole.editor)
        actions = policy["Statement"][0]["Action"]
        assert {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} <= set(actions)
        assert all(
            statement["Resource"].startswith(f"arn:aws:s3:::{BUCKET}")
            for statement in policy["Statement"]
        )


class TestCredentials:
    async def test_viewer_gets_short_lived_read_credentials_that_work(
        self, s3_admin: httpx.AsyncClient, factory, moto_url
    ) -> None:
        owner, viewer = await factory.user(), await factory.user()
        project_id = await factory.project(await factory.org(owner), members={viewer: "viewer"})
        before = datetime.now(UTC)
        response = await s3_admin.get(
            f"/api/v1/projects/{project_id}/credentials", headers=viewer.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["uri"] == f"s3://{BUCKET}/projects/{project_id}/"
        credentials = body["credentials"]
        assert credentials["access"] == "read"
        assert credentials["session_token"]
        expires = datetime.fromisoformat(credentials["expires_at"])
        assert before < expires <= before + timedelta(seconds=900 + 60)
        client = boto3.client(
            "s3",
            endpoint_url=moto_url,
            region_name="us-east-1",
            aws_access_key_id=credentials["access_key_id"],
            aws_secret_access_key=credentials["secret_access_key"],
            aws_session_token=credentials["session_token"],
        )
        listing = client.list_objects_v2(Bucket=BUCKET, Prefix=body["prefix"])
        assert listing["KeyCount"] == 0

    async def test_editor_gets_read_write(self, s3_admin: httpx.AsyncClient, factory) -> None:
        owner, editor = await factory.user(), await factory.user()
        project_id = await factory.project(await factory.org(owner), members={editor: "editor"})
        response = await s3_admin.get(
            f"/api/v1/projects/{project_id}/credentials", headers=editor.headers
        )
        assert response.json()["credentials"]["access"] == "read-write"

    async def test_other_orgs_project_is_404_and_issues_nothing(
        self, s3_admin: httpx.AsyncClient, factory
    ) -> None:
        owner, mallory = await factory.user(), await factory.user()
        project_id = await factory.project(await factory.org(owner))
        response = await s3_admin.get(
            f"/api/v1/projects/{project_id}/credentials", headers=mallory.headers
        )
        assert response.status_code == 404
        assert "secret_access_key" not in response.text

    async def test_sts_unreachable_is_503_quickly(self, make_admin, factory) -> None:
        owner = await factory.user()
        project_id = await factory.project(await factory.org(owner))
        started = time.monotonic()
        closed = AnyHttpUrl(f"http://127.0.0.1:{free_port()}")
        async with make_admin(**S3_SETTINGS, STORAGE_ENDPOINT_URL=closed) as client:
            response = await client.get(
                f"/api/v1/projects/{project_id}/credentials", headers=owner.headers
            )
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert time.monotonic() - started < 15
