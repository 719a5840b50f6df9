"""CORS on the signed blob URLs, for the web app's uploads straight from the browser: its
origin alone, preflights answered, the part's ETag readable by the page's script; the API
itself stays closed to other origins' scripts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from nfhub_files.config import Settings
from nfhub_files.main import create_app

WEB = "https://web.example.org"
ELSEWHERE = "https://evil.example.net"
FILES = "http://files.test"


@pytest.fixture
def cors_settings(files_settings: Settings) -> Settings:
    return files_settings.model_copy(update={"CORS_ORIGINS": [WEB]})


@pytest_asyncio.fixture
async def cors_client(
    cors_settings: Settings,
    admin_transport: httpx.ASGITransport,
    session_factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(cors_settings, http_transport=admin_transport)
    async with app.router.lifespan_context(app):
        app.state.sessionmaker = session_factory
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=FILES) as client:
            yield client


def blob_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def signed_put(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **fields: Any
) -> str:
    response = await client.post(
        "/api/v1/files/upload-url", json={"path": path, **fields}, headers=headers
    )
    assert response.status_code == 200, response.text
    return blob_path(response.json()["url"])


def preflight(method: str, origin: str, headers: str = "content-type") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


class TestPreflight:
    async def test_the_web_origin_may_put_with_a_content_type(
        self, cors_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID]
    ) -> None:
        editor, _, project_id = project
        url = await signed_put(cors_client, editor.in_project(project_id), "in/a.txt")

        answer = await cors_client.options(url, headers=preflight("PUT", WEB))

        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == WEB
        assert "PUT" in answer.headers["access-control-allow-methods"]
        assert "content-type" in answer.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in answer.headers
        assert int(answer.headers["access-control-max-age"]) > 0

    async def test_another_origin_is_refused(self, cors_client: httpx.AsyncClient) -> None:
        answer = await cors_client.options(
            "/blobs/projects/x/a.txt?expires=1&signature=s", headers=preflight("PUT", ELSEWHERE)
        )

        assert answer.status_code == 400
        assert "access-control-allow-origin" not in answer.headers

    async def test_a_method_or_header_not_needed_is_refused(
        self, cors_client: httpx.AsyncClient
    ) -> None:
        url = "/blobs/projects/x/a.txt?expires=1&signature=s"
        delete = await cors_client.options(url, headers=preflight("DELETE", WEB))
        authorization = await cors_client.options(
            url, headers=preflight("PUT", WEB, "authorization")
        )

        assert delete.status_code == 400
        assert authorization.status_code == 400

    async def test_the_api_answers_no_preflight(self, cors_client: httpx.AsyncClient) -> None:
        """Bearer-token calls come from web's server, never from a page's script."""
        answer = await cors_client.options(
            "/api/v1/files", headers=preflight("GET", WEB, "authorization,x-project-id")
        )

        assert "access-control-allow-origin" not in answer.headers

    async def test_no_cors_without_origins(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID]
    ) -> None:
        editor, _, project_id = project
        url = await signed_put(files_client, editor.in_project(project_id), "in/a.txt")

        answer = await files_client.options(url, headers=preflight("PUT", WEB))

        assert "access-control-allow-origin" not in answer.headers


class TestUploadsFromThePage:
    async def test_a_part_put_shows_its_etag_to_the_script(
        self, cors_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID]
    ) -> None:
        editor, _, project_id = project
        headers = editor.in_project(project_id)
        started = await cors_client.post(
            "/api/v1/files/multipart",
            json={"path": "big/reads.bin", "size": 3, "part_size": 3},
            headers=headers,
        )
        assert started.status_code == 201, started.text
        part = started.json()["parts"][0]

        put = await cors_client.put(
            blob_path(part["url"]), content=b"abc", headers={**part["headers"], "Origin": WEB}
        )

        assert put.status_code == 200, put.text
        assert put.headers["access-control-allow-origin"] == WEB
        exposed = put.headers["access-control-expose-headers"].lower()
        assert "etag" in exposed
        assert put.headers["etag"]

    async def test_a_refusal_is_readable_by_the_script(
        self, cors_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID]
    ) -> None:
        """A bad signature's problem+json reaches the page, which shows its detail."""
        editor, _, project_id = project
        url = await signed_put(cors_client, editor.in_project(project_id), "in/a.txt")

        put = await cors_client.put(
            url.replace("signature=", "signature=X"), content=b"x", headers={"Origin": WEB}
        )

        assert put.status_code == 403, put.text
        assert put.headers["access-control-allow-origin"] == WEB

    async def test_another_origins_page_cannot_read_the_answer(
        self, cors_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID]
    ) -> None:
        editor, _, project_id = project
        url = await signed_put(cors_client, editor.in_project(project_id), "in/a.txt")

        put = await cors_client.put(url, content=b"x", headers={"Origin": ELSEWHERE})

        assert "access-control-allow-origin" not in put.headers


class TestSetting:
    @pytest.mark.parametrize(
        "origin", ["*", "https://web.example.org/app", "web.example.org", "ftp://web.example.org"]
    )
    def test_only_origins_are_taken(self, origin: str) -> None:
        with pytest.raises(ValidationError):
            Settings(CORS_ORIGINS=[origin])

    def test_an_origin_is_kept_as_browsers_send_it(self) -> None:
        settings = Settings(CORS_ORIGINS=["https://Web.Example.org:8443/"])

        assert settings.CORS_ORIGINS == ["https://web.example.org:8443"]
