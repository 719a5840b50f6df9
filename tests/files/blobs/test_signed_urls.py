"""The blob endpoint trusts the signature alone: every signed field is checked, uploads are all
or nothing, and downloads honour Range."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI

from nfhub_files.storage import signing
from nfhub_files.storage.local import writer
from nfhub_files.storage.signing import BlobGrant

PROBLEM_JSON = "application/problem+json"
HELLO = b"hello"


def tamper(url: str, *, key: Callable[[str], str] | None = None, **query: str | None) -> str:
    """``url`` with its key rewritten and query values replaced (None drops one)."""
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    for name, value in query.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    path = key(parts.path) if key else parts.path
    return urlunsplit(parts._replace(path=path, query=urlencode(params)))


def flip(signature: str) -> str:
    return ("A" if signature[0] != "A" else "B") + signature[1:]


async def upload_url(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **fields: Any
) -> str:
    response = await client.post(
        "/api/v1/files/upload-url", json={"path": path, **fields}, headers=headers
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


async def download_url(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> str:
    response = await client.get(
        "/api/v1/files/download-url", params={"path": path}, headers=headers
    )
    assert response.status_code == 200, response.text
    url: str = response.json()["url"]
    return url


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    """A streamed body: httpx sends it chunked, without Content-Length."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


class TestTamperedUploadUrls:
    """A PUT URL signed for 5 bytes of b'hello' at inbox/new.txt."""

    CASES: dict[str, dict[str, Any]] = {
        "key: another file": {"key": lambda p: p.replace("new.txt", "other.txt")},
        "key: another project": {"key": lambda p: p.replace("/projects/", "/projects/x")},
        "expires: later": {"expires": lambda q: str(int(q["expires"]) + 3600)},
        "expires: earlier": {"expires": lambda q: str(int(q["expires"]) - 1)},
        "max_size: raised": {"max_size": lambda q: "1000000"},
        "max_size: removed": {"max_size": lambda q: None},
        "sha256: changed": {"sha256": lambda q: hashlib.sha256(b"other").hexdigest()},
        "sha256: removed": {"sha256": lambda q: None},
        "md5: added": {"md5": lambda q: hashlib.md5(HELLO, usedforsecurity=False).hexdigest()},
        "part: added": {"upload_id": lambda q: str(uuid.uuid4()), "part_number": lambda q: "1"},
        "signature: one character": {"signature": lambda q: flip(q["signature"])},
        "signature: not ASCII": {"signature": lambda q: "é" + q["signature"][1:]},
        "signature: empty": {"signature": lambda q: ""},
    }

    async def test_every_change_is_a_403_and_nothing_is_written(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(
            files_client,
            editor.in_project(project_id),
            "inbox/new.txt",
            size=len(HELLO),
            sha256=hashlib.sha256(HELLO).hexdigest(),
        )
        query = dict(parse_qsl(urlsplit(url).query))
        before = disk.snapshot()
        outcomes = {}
        for case, changes in self.CASES.items():
            key = changes.get("key")
            values = {name: change(query) for name, change in changes.items() if name != "key"}

            response = await files_client.put(tamper(url, key=key, **values), content=HELLO)

            outcomes[case] = (response.status_code, response.headers["content-type"])
        assert outcomes == dict.fromkeys(self.CASES, (403, PROBLEM_JSON))
        assert disk.snapshot() == before

        untouched = await files_client.put(url, content=HELLO)
        assert untouched.status_code == 200, untouched.text
        assert (disk.project_dir / "inbox" / "new.txt").read_bytes() == HELLO

    async def test_a_put_url_used_for_get_is_a_403(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        """An upload URL for an existing file does not let anyone read it."""
        editor, _, project_id = project
        url = await upload_url(files_client, editor.in_project(project_id), "inbox/data.txt")

        response = await files_client.get(url)

        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM_JSON
        assert b"project data" not in response.content


class TestTamperedDownloadUrls:
    CASES: dict[str, dict[str, Any]] = {
        "key: another file": {"key": lambda p: p.replace("data.txt", "sub/deep.txt")},
        "key: another project": {"key": lambda p: p.replace("/projects/", "/projects/x")},
        "expires: later": {"expires": lambda q: str(int(q["expires"]) + 3600)},
        "signature: one character": {"signature": lambda q: flip(q["signature"])},
        "signature: not ASCII": {"signature": lambda q: "é" + q["signature"][1:]},
    }

    async def test_every_change_is_a_403_without_the_bytes(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        _, viewer, project_id = project
        url = await download_url(files_client, viewer.in_project(project_id), "inbox/data.txt")
        query = dict(parse_qsl(urlsplit(url).query))
        outcomes = {}
        for case, changes in self.CASES.items():
            key = changes.get("key")
            values = {name: change(query) for name, change in changes.items() if name != "key"}

            response = await files_client.get(tamper(url, key=key, **values))

            outcomes[case] = (response.status_code, response.headers["content-type"])
        assert outcomes == dict.fromkeys(self.CASES, (403, PROBLEM_JSON))

        untouched = await files_client.get(url)
        assert untouched.content == b"project data\n"

    async def test_a_get_url_used_for_put_is_a_403_and_writes_nothing(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        """A viewer's download URL does not let them overwrite the file."""
        _, viewer, project_id = project
        url = await download_url(files_client, viewer.in_project(project_id), "inbox/data.txt")
        before = disk.snapshot()

        response = await files_client.put(url, content=b"overwritten by a viewer")

        assert response.status_code == 403
        assert response.headers["content-type"] == PROBLEM_JSON
        assert disk.snapshot() == before


class TestExpiredUrls:
    @pytest.fixture
    def clock(self, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
        """The verifier's clock (URLs are still issued at the real time)."""
        clock = SimpleNamespace(now=time.time())
        monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: clock.now))
        return clock

    async def test_urls_work_until_they_expire_and_not_after(
        self,
        files_client: httpx.AsyncClient,
        files_settings: Any,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        clock: SimpleNamespace,
    ) -> None:
        editor, _, project_id = project
        get_url = await download_url(files_client, editor.in_project(project_id), "inbox/data.txt")
        put_url = await upload_url(files_client, editor.in_project(project_id), "inbox/new.txt")
        expires, put_expires = (
            int(dict(parse_qsl(urlsplit(url).query))["expires"]) for url in (get_url, put_url)
        )

        clock.now = expires  # the last second it is valid
        last_get = await files_client.get(get_url)
        # The PUT URL was signed a moment later, so its expiry may be a second later too.
        clock.now = max(expires, put_expires) + 1
        late_get = await files_client.get(get_url)
        late_put = await files_client.put(put_url, content=HELLO)

        assert expires >= time.time() + files_settings.URL_TTL_SECONDS - 5
        assert last_get.status_code == 200
        assert (late_get.status_code, late_put.status_code) == (403, 403)
        assert "expired" in late_get.json()["detail"]
        assert late_put.headers["content-type"] == PROBLEM_JSON
        assert not (disk.project_dir / "inbox" / "new.txt").exists()

    async def test_a_url_signed_with_a_past_expiry_is_a_403(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
    ) -> None:
        signer = files_app.state.storage.signer
        key = f"projects/{project[2]}/inbox/data.txt"
        past = int(time.time()) - 1
        grants = {
            "GET": BlobGrant("GET", key, past, None, None, None, None, None),
            "PUT": BlobGrant("PUT", key, past, 100, None, None, None, None),
        }
        before = disk.snapshot()

        got = await files_client.get(signer.url(grants["GET"]))
        put = await files_client.put(signer.url(grants["PUT"]), content=HELLO)

        assert (got.status_code, put.status_code) == (403, 403)
        assert "expired" in got.json()["detail"]
        assert disk.snapshot() == before


class TestUploadSizeLimit:
    @pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
    async def test_more_than_the_signed_size_is_a_413_and_nothing_is_kept(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        streamed: bool,
    ) -> None:
        editor, _, project_id = project
        size = 256 * 1024
        data = b"x" * (3 * size)
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/new.txt", size=size
        )
        before = disk.snapshot()

        body: Any = chunks(data, 64 * 1024) if streamed else data
        response = await files_client.put(url, content=body)

        assert response.status_code == 413, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert ("content-length" in response.request.headers) is not streamed
        assert disk.snapshot() == before
        assert disk.temp_files() == []

    @pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
    async def test_the_previous_version_survives_a_refused_upload(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        streamed: bool,
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/data.txt", size=4
        )

        body: Any = chunks(b"too long", 3) if streamed else b"too long"
        response = await files_client.put(url, content=body)

        assert response.status_code == 413
        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"
        assert disk.temp_files() == []

    @pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "streamed"])
    async def test_exactly_the_signed_size_is_stored(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        streamed: bool,
    ) -> None:
        editor, _, project_id = project
        data = b"0123456789" * 1000
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/new.txt", size=len(data)
        )

        body: Any = chunks(data, 999) if streamed else data
        response = await files_client.put(url, content=body)

        assert response.status_code == 200, response.text
        assert response.json()["size"] == len(data)
        assert (disk.project_dir / "inbox" / "new.txt").read_bytes() == data


class TestUploadChecksum:
    @pytest.mark.parametrize("algorithm", ["sha256", "md5"])
    async def test_a_mismatch_is_a_422_and_the_previous_version_stays(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        algorithm: str,
    ) -> None:
        editor, _, project_id = project
        expected = hashlib.new(algorithm, b"what the client meant").hexdigest()
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/data.txt", **{algorithm: expected}
        )
        before = disk.snapshot()

        response = await files_client.put(url, content=b"what arrived instead")

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert algorithm in response.json()["detail"]
        assert disk.snapshot() == before
        assert disk.temp_files() == []

    async def test_a_match_is_stored(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(
            files_client,
            editor.in_project(project_id),
            "inbox/new.txt",
            sha256=hashlib.sha256(HELLO).hexdigest().upper(),
            md5=hashlib.md5(HELLO, usedforsecurity=False).hexdigest(),
        )

        response = await files_client.put(url, content=HELLO)

        assert response.status_code == 200, response.text
        assert (disk.project_dir / "inbox" / "new.txt").read_bytes() == HELLO


class TestInterruptedUpload:
    async def test_a_failing_body_leaves_the_previous_version(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(files_client, editor.in_project(project_id), "inbox/data.txt")

        async def body() -> AsyncIterator[bytes]:
            yield b"the first half of a new version, "
            raise RuntimeError("the client crashed")

        # In-process, the client's failure surfaces inside the app (a 500 nobody reads).
        await files_client.put(url, content=body())

        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"
        assert disk.temp_files() == []

    async def test_a_client_disconnect_leaves_the_previous_version(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
    ) -> None:
        """What the server sees when a connection drops mid-upload: an http.disconnect."""
        editor, _, project_id = project
        url = urlsplit(
            await upload_url(files_client, editor.in_project(project_id), "inbox/data.txt")
        )
        messages = [
            {"type": "http.request", "body": b"the first half, ", "more_body": True},
            {"type": "http.disconnect"},
        ]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "PUT",
            "scheme": "http",
            "path": url.path,
            "raw_path": url.path.encode(),
            "query_string": url.query.encode(),
            "root_path": "",
            "headers": [(b"host", b"files.test"), (b"transfer-encoding", b"chunked")],
            "server": ("files.test", 80),
            "client": ("127.0.0.1", 1234),
            "state": {},
        }
        await files_app(scope, receive, send)

        assert sent[0]["status"] < 500
        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"
        assert disk.temp_files() == []


class TestRangeRequests:
    DATA = bytes(range(256)) * 40  # 10240 bytes

    @pytest.fixture
    async def url(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> str:
        (disk.project_dir / "inbox" / "blob.bin").write_bytes(self.DATA)
        _, viewer, project_id = project
        return await download_url(files_client, viewer.in_project(project_id), "inbox/blob.bin")

    @pytest.mark.parametrize(
        ("header", "start", "end"),
        [("bytes=10-19", 10, 19), ("bytes=-5", 10235, 10239), ("bytes=10230-", 10230, 10239)],
    )
    async def test_a_range_is_a_206_with_those_bytes(
        self, files_client: httpx.AsyncClient, url: str, header: str, start: int, end: int
    ) -> None:
        response = await files_client.get(url, headers={"Range": header})

        assert response.status_code == 206
        assert response.content == self.DATA[start : end + 1]
        assert response.headers["content-range"] == f"bytes {start}-{end}/{len(self.DATA)}"
        assert response.headers["content-length"] == str(end + 1 - start)

    @pytest.mark.parametrize("header", ["bytes=10240-", "bytes=20000-20010"])
    async def test_a_range_past_the_end_is_a_416(
        self, files_client: httpx.AsyncClient, url: str, header: str
    ) -> None:
        response = await files_client.get(url, headers={"Range": header})

        assert response.status_code == 416
        assert response.headers["content-range"] == f"bytes */{len(self.DATA)}"
        assert self.DATA[:16] not in response.content

    async def test_no_range_is_the_whole_file(
        self, files_client: httpx.AsyncClient, url: str
    ) -> None:
        response = await files_client.get(url)

        assert response.status_code == 200
        assert response.content == self.DATA
        assert response.headers["accept-ranges"] == "bytes"

    async def test_head_tells_the_size_without_the_bytes(
        self, files_client: httpx.AsyncClient, url: str
    ) -> None:
        response = await files_client.head(url)

        assert response.status_code == 200
        assert response.headers["content-length"] == str(len(self.DATA))
        assert response.content == b""


class TestVersions:
    """A local file's ETag names its version the same way everywhere (upload answer, stat,
    listing, download), and changes when the file is replaced."""

    @staticmethod
    async def put(
        client: httpx.AsyncClient, headers: dict[str, str], path: str, data: bytes, **fields: str
    ) -> str:
        url = await upload_url(client, headers, path, **fields)
        response = await client.put(url, content=data)
        assert response.status_code == 200, response.text
        return response.headers["etag"]

    @staticmethod
    async def stat_etag(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> str:
        response = await client.get("/api/v1/files/stat", params={"path": path}, headers=headers)
        assert response.status_code == 200, response.text
        etag: str = response.json()["etag"]
        return etag

    async def test_the_upload_stat_listing_and_download_name_one_etag(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, viewer, project_id = project
        headers = editor.in_project(project_id)
        sha256 = hashlib.sha256(HELLO).hexdigest()
        answered = await self.put(files_client, headers, "inbox/v.bin", HELLO, sha256=sha256)

        stated = await self.stat_etag(files_client, headers, "inbox/v.bin")
        listing = await files_client.get(
            "/api/v1/files", params={"path": "inbox/"}, headers=headers
        )
        url = await download_url(files_client, viewer.in_project(project_id), "inbox/v.bin")
        got, head = await files_client.get(url), await files_client.head(url)

        listed = {item["name"]: item for item in listing.json()["items"]}
        assert len(stated) == 32
        assert answered == got.headers["etag"] == head.headers["etag"] == f'"{stated}"'
        assert (listed["v.bin"]["etag"], listed["v.bin"]["sha256"]) == (stated, sha256)
        assert listed["data.txt"]["etag"] not in (None, stated)
        assert listed["data.txt"]["sha256"] is None  # written without one: not known

    async def test_a_new_upload_of_the_same_size_is_a_new_etag_and_a_move_keeps_it(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, _, project_id = project
        headers = editor.in_project(project_id)
        first = await self.put(files_client, headers, "inbox/v.bin", b"version 1")
        second = await self.put(files_client, headers, "inbox/v.bin", b"version 2")
        moved = await files_client.post(
            "/api/v1/files/move", json={"src": "inbox/v.bin", "dst": "kept/v.bin"}, headers=headers
        )
        copied = await files_client.post(
            "/api/v1/files/copy", json={"src": "kept/v.bin", "dst": "copy/v.bin"}, headers=headers
        )

        assert moved.status_code == 200, moved.text
        assert copied.status_code == 200, copied.text
        assert first != second
        assert f'"{await self.stat_etag(files_client, headers, "kept/v.bin")}"' == second
        assert f'"{await self.stat_etag(files_client, headers, "copy/v.bin")}"' != second

    async def test_if_range_with_a_replaced_versions_etag_sends_the_whole_new_file(
        self, files_client: httpx.AsyncClient, project: tuple[Any, Any, uuid.UUID], disk: Any
    ) -> None:
        editor, viewer, project_id = project
        headers = editor.in_project(project_id)
        old = await self.put(files_client, headers, "inbox/v.bin", b"old bytes, ten+")
        new = await self.put(files_client, headers, "inbox/v.bin", b"new bytes, ten+")
        url = await download_url(files_client, viewer.in_project(project_id), "inbox/v.bin")

        stale = await files_client.get(url, headers={"Range": "bytes=4-", "If-Range": old})
        current = await files_client.get(url, headers={"Range": "bytes=4-", "If-Range": new})

        assert (stale.status_code, stale.content) == (200, b"new bytes, ten+")
        assert (current.status_code, current.content) == (206, b"bytes, ten+")


class RecordedWrites:
    """The local backend's writes (run in worker threads), each first recorded by its size and
    passed to ``before`` with its number (from 1), which may delay or fail it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        self.before: Callable[[int], None] = lambda number: None
        write = writer.write_and_hash

        def recorded(handle: Any, data: list[bytes], *hashes: Any) -> None:
            self.sizes.append(sum(map(len, data)))
            self.before(len(self.sizes))
            write(handle, data, *hashes)

        monkeypatch.setattr(writer, "write_and_hash", recorded)


class TestOverlappedWrites:
    """Uploads bigger than one write buffer: the next buffer is received while the last is
    written, and a refusal or a cancellation still leaves nothing behind."""

    BUFFER = 4096

    @pytest.fixture(autouse=True)
    def small_write_buffer(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(writer, "WRITE_BUFFER", self.BUFFER)

    @pytest.fixture
    def writes(self, monkeypatch: pytest.MonkeyPatch) -> RecordedWrites:
        return RecordedWrites(monkeypatch)

    @pytest.fixture
    def slow_writes(self, writes: RecordedWrites) -> list[int]:
        """Each write takes 20 ms in its thread, so one is in flight when the next arrives;
        the sizes written, in order, are recorded."""
        writes.before = lambda number: time.sleep(0.02)
        return writes.sizes

    async def test_the_bytes_and_checksums_survive_many_buffers(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        slow_writes: list[int],
    ) -> None:
        editor, _, project_id = project
        data = bytes(range(256)) * 100  # 25,600 bytes in chunks of 1000
        url = await upload_url(
            files_client,
            editor.in_project(project_id),
            "inbox/big.bin",
            sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )

        response = await files_client.put(url, content=chunks(data, 1000))

        assert response.status_code == 200, response.text
        assert (disk.project_dir / "inbox" / "big.bin").read_bytes() == data
        # A buffer goes to the writer once it holds 4096 bytes or more: after five chunks.
        assert slow_writes == [5000, 5000, 5000, 5000, 5000, 600]
        assert disk.temp_files() == []

    async def test_too_many_bytes_with_a_write_in_flight_is_a_413_and_nothing_is_kept(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        slow_writes: list[int],
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/data.txt", size=3 * self.BUFFER
        )
        before = disk.snapshot()

        response = await files_client.put(url, content=chunks(b"x" * (5 * self.BUFFER), 1024))

        assert response.status_code == 413, response.text
        assert slow_writes  # the refusal came with a write under way
        assert disk.snapshot() == before
        assert disk.temp_files() == []

    async def test_a_write_failing_after_the_first_is_a_503_and_nothing_is_kept(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        writes: RecordedWrites,
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(files_client, editor.in_project(project_id), "inbox/data.txt")

        def full_on_the_second(number: int) -> None:
            if number == 2:
                raise OSError(errno.ENOSPC, "No space left on device")

        writes.before = full_on_the_second
        response = await files_client.put(url, content=chunks(b"y" * (4 * self.BUFFER), 1024))

        assert response.status_code == 503, response.text
        assert len(writes.sizes) == 2  # nothing more was written after the failure
        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"
        assert disk.temp_files() == []

    async def test_a_cancelled_upload_removes_its_file_when_the_write_in_flight_ends(
        self,
        files_app: FastAPI,
        disk: Any,
        writes: RecordedWrites,
    ) -> None:
        storage = files_app.state.storage
        writing, release = threading.Event(), threading.Event()

        def held(number: int) -> None:
            writing.set()
            release.wait(10)

        writes.before = held

        async def body() -> AsyncIterator[bytes]:
            yield b"z" * self.BUFFER  # one full buffer, handed to the writer
            await asyncio.Event().wait()  # then the client goes quiet

        key = f"projects/{disk.project_dir.name}/inbox/data.txt"
        upload = asyncio.create_task(storage.receive(key, body(), max_size=1 << 20))
        assert await asyncio.to_thread(writing.wait, 5)
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload

        assert len(disk.temp_files()) == 1  # the thread still writes to it
        release.set()
        for _ in range(500):  # the event loop removes it once the thread has finished
            if not disk.temp_files():
                break
            await asyncio.sleep(0.01)
        assert disk.temp_files() == []
        assert (disk.project_dir / "inbox" / "data.txt").read_bytes() == b"project data\n"


class TestUploadMemory:
    """All uploads together hold no more than FILES_LOCAL_UPLOAD_MEMORY_BYTES received and not
    yet written; past it they wait (TCP slows their clients) and still arrive whole."""

    BUFFER = 4096
    LIMIT = 8192

    @pytest.fixture(autouse=True)
    def small_buffers(self, monkeypatch: pytest.MonkeyPatch, files_app: FastAPI) -> None:
        monkeypatch.setattr(writer, "WRITE_BUFFER", self.BUFFER)
        monkeypatch.setattr(files_app.state.storage.upload_memory, "limit", self.LIMIT)

    async def test_concurrent_uploads_stay_within_the_bound_and_arrive_whole(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        editor, _, project_id = project
        memory = files_app.state.storage.upload_memory
        writes = RecordedWrites(monkeypatch)
        writes.before = lambda number: time.sleep(0.005)  # the disk lags the network
        bodies = {f"inbox/up-{n}.bin": bytes([n]) * 40_000 for n in range(4)}
        urls = {
            path: await upload_url(
                files_client,
                editor.in_project(project_id),
                path,
                sha256=hashlib.sha256(data).hexdigest(),
            )
            for path, data in bodies.items()
        }
        peak = 0
        sampling = True

        async def sample() -> None:
            nonlocal peak
            while sampling:
                peak = max(peak, memory.held)
                await asyncio.sleep(0)

        sampler = asyncio.create_task(sample())
        responses = await asyncio.gather(
            *(
                files_client.put(urls[path], content=chunks(data, 1000))
                for path, data in bodies.items()
            )
        )
        sampling = False
        await sampler

        assert [response.status_code for response in responses] == [200] * 4
        for path, data in bodies.items():
            assert (disk.project_dir / path).read_bytes() == data
        assert 0 < peak <= self.LIMIT
        assert memory.waits > 0  # the bound was reached, and waited on
        assert memory.overdrafts == 0
        assert memory.held == 0

    async def test_a_refused_and_a_cancelled_upload_give_their_memory_back(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
    ) -> None:
        editor, _, project_id = project
        storage = files_app.state.storage
        url = await upload_url(
            files_client, editor.in_project(project_id), "inbox/data.txt", size=3000
        )
        refused = await files_client.put(url, content=chunks(b"x" * 5000, 1000))

        async def quiet_after_a_chunk() -> AsyncIterator[bytes]:
            yield b"z" * 1000
            await asyncio.Event().wait()

        key = f"projects/{disk.project_dir.name}/inbox/quiet.bin"
        upload = asyncio.create_task(storage.receive(key, quiet_after_a_chunk(), max_size=1 << 20))
        for _ in range(500):
            if storage.upload_memory.held:
                break
            await asyncio.sleep(0.01)
        held_while_quiet = storage.upload_memory.held
        upload.cancel()
        with pytest.raises(asyncio.CancelledError):
            await upload

        assert refused.status_code == 413, refused.text
        assert held_while_quiet == 1000
        assert storage.upload_memory.held == 0
        assert disk.temp_files() == []

    async def test_its_bound_and_use_are_in_the_metrics(
        self, files_client: httpx.AsyncClient
    ) -> None:
        metrics = (await files_client.get("/metrics")).text

        assert f"nfhub_files_upload_memory_limit_bytes {float(self.LIMIT)}" in metrics
        assert "nfhub_files_upload_memory_bytes 0.0" in metrics
        assert "nfhub_files_upload_memory_waits_total 0.0" in metrics
        assert "nfhub_files_upload_memory_overdrafts_total 0.0" in metrics


class TestDurableWrites:
    """An answered upload survives a power cut: its bytes and its name are flushed to the disk
    before the 200, as S3 promises for a PUT."""

    async def test_an_upload_is_flushed_then_renamed_then_its_folder_flushed(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        flushes: Any,
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(files_client, editor.in_project(project_id), "inbox/new.bin")

        response = await files_client.put(url, content=HELLO)

        assert response.status_code == 200, response.text
        folder = disk.project_dir / "inbox"
        (temporary,) = (event[1] for event in flushes.events if event[0] == "replace")
        assert flushes.events == [
            ("fsync", temporary),
            ("replace", temporary, str(folder / "new.bin")),
            ("fsync", str(folder)),
        ]
        assert (folder / "new.bin").read_bytes() == HELLO

    async def test_a_refused_upload_flushes_and_renames_nothing(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        flushes: Any,
    ) -> None:
        editor, _, project_id = project
        url = await upload_url(
            files_client,
            editor.in_project(project_id),
            "inbox/new.bin",
            sha256=hashlib.sha256(b"something else").hexdigest(),
        )

        response = await files_client.put(url, content=HELLO)

        assert response.status_code == 422, response.text
        assert flushes.events == []
        assert disk.temp_files() == []

    async def test_copy_and_move_flush_the_new_names(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        flushes: Any,
    ) -> None:
        editor, _, project_id = project
        headers = editor.in_project(project_id)

        copied = await files_client.post(
            "/api/v1/files/copy", headers=headers, json={"src": "inbox/data.txt", "dst": "a/c.txt"}
        )
        assert copied.status_code == 200, copied.text
        (temporary,) = (event[1] for event in flushes.events if event[0] == "replace")
        assert flushes.events == [
            ("fsync", temporary),
            ("replace", temporary, str(disk.project_dir / "a" / "c.txt")),
            ("fsync", str(disk.project_dir / "a")),
        ]

        flushes.events.clear()
        moved = await files_client.post(
            "/api/v1/files/move", headers=headers, json={"src": "a/c.txt", "dst": "b/m.txt"}
        )
        assert moved.status_code == 200, moved.text
        assert sorted(flushes.events) == [
            ("fsync", str(disk.project_dir / "a")),
            ("fsync", str(disk.project_dir / "b")),
        ]

    async def test_with_fsync_off_nothing_is_flushed(
        self,
        files_app: FastAPI,
        disk: Any,
        flushes: Any,
    ) -> None:
        storage = files_app.state.storage
        storage.durable = False
        key = f"projects/{disk.project_dir.name}/inbox/scratch.bin"

        await storage.receive(key, chunks(HELLO, 2), max_size=1 << 20)

        assert [event[0] for event in flushes.events] == ["replace"]
        assert (disk.project_dir / "inbox" / "scratch.bin").read_bytes() == HELLO
