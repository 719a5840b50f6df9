"""The files API on the local backend: listing and paging, stat, copy, move, delete, folders."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_files.files.schemas import DownloadUrl

PROBLEM_JSON = "application/problem+json"


def put(root: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def tree(root: Path) -> dict[str, bytes | None]:
    """Files (with bytes) and folders (None) under ``root``."""
    return {
        path.relative_to(root).as_posix(): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


@pytest.fixture
def editor_headers(project: tuple[Any, Any, uuid.UUID]) -> dict[str, str]:
    headers: dict[str, str] = project[0].in_project(project[2])
    return headers


@pytest.fixture
def viewer_headers(project: tuple[Any, Any, uuid.UUID]) -> dict[str, str]:
    headers: dict[str, str] = project[1].in_project(project[2])
    return headers


class TestListFiles:
    @pytest.fixture
    def folder(self, disk: Any) -> Path:
        """b/ and a/ (folders), then z.txt, c.txt, m.txt (files): 5 entries."""
        folder = disk.project_dir / "listing"
        put(folder, {"z.txt": b"zz", "c.txt": b"c", "m.txt": b"mmm", "b/x": b"", "a/y": b""})
        return folder

    async def test_folders_come_first_then_files_each_sorted(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], folder: Path
    ) -> None:
        response = await files_client.get(
            "/api/v1/files", params={"path": "listing"}, headers=viewer_headers
        )

        assert response.status_code == 200
        items = response.json()["items"]
        assert [(item["path"], item["kind"]) for item in items] == [
            ("listing/a/", "folder"),
            ("listing/b/", "folder"),
            ("listing/c.txt", "file"),
            ("listing/m.txt", "file"),
            ("listing/z.txt", "file"),
        ]
        assert [item["size"] for item in items] == [None, None, 1, 3, 2]
        assert [item["name"] for item in items] == ["a", "b", "c.txt", "m.txt", "z.txt"]
        assert response.json()["count"] == 5

    @pytest.mark.parametrize(
        ("limit", "offset", "expected"),
        [
            (2, 0, ["a", "b"]),
            (2, 1, ["b", "c.txt"]),  # across the folders/files boundary
            (2, 2, ["c.txt", "m.txt"]),
            (2, 4, ["z.txt"]),
            (2, 5, []),
            (500, 0, ["a", "b", "c.txt", "m.txt", "z.txt"]),
        ],
    )
    async def test_limit_and_offset_page_through_folders_then_files(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        folder: Path,
        limit: int,
        offset: int,
        expected: list[str],
    ) -> None:
        response = await files_client.get(
            "/api/v1/files",
            params={"path": "listing/", "limit": limit, "offset": offset},
            headers=viewer_headers,
        )

        body = response.json()
        assert [item["name"] for item in body["items"]] == expected
        assert (body["count"], body["limit"], body["offset"]) == (5, limit, offset)
        assert response.headers["x-total-count"] == "5"

    async def test_the_link_header_leads_through_every_page(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], folder: Path
    ) -> None:
        names: list[str] = []
        url: str | None = "/api/v1/files?path=listing&limit=2"
        pages = 0
        while url is not None:
            response = await files_client.get(url, headers=viewer_headers)
            names += [item["name"] for item in response.json()["items"]]
            url = response.links.get("next", {}).get("url")
            pages += 1
            last = response

        assert names == ["a", "b", "c.txt", "m.txt", "z.txt"]
        assert pages == 3
        assert "offset=4" in last.links["last"]["url"]
        assert "offset=2" in last.links["prev"]["url"]
        assert "offset=0" in last.links["first"]["url"]
        assert "path=listing" in last.links["first"]["url"]

    async def test_the_project_root_is_listed_without_a_path(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get("/api/v1/files", headers=viewer_headers)

        assert [item["path"] for item in response.json()["items"]] == ["inbox/"]

    async def test_a_missing_folder_is_a_404(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files", params={"path": "nowhere/"}, headers=viewer_headers
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_a_file_is_a_400_that_says_to_list_its_folder(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files", params={"path": "inbox/data.txt"}, headers=viewer_headers
        )

        assert response.status_code == 400
        assert "list its folder" in response.json()["detail"]

    @pytest.mark.parametrize(("limit", "offset"), [(0, 0), (501, 0), (10, -1)])
    async def test_out_of_range_paging_is_a_422(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        disk: Any,
        limit: int,
        offset: int,
    ) -> None:
        response = await files_client.get(
            "/api/v1/files", params={"limit": limit, "offset": offset}, headers=viewer_headers
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON


class TestStat:
    async def test_a_file(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files/stat", params={"path": "inbox/data.txt"}, headers=viewer_headers
        )

        body = response.json()
        assert (body["path"], body["name"], body["kind"]) == ("inbox/data.txt", "data.txt", "file")
        assert body["size"] == len(b"project data\n")
        assert body["modified"] is not None

    async def test_a_folder(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files/stat", params={"path": "inbox/sub"}, headers=viewer_headers
        )

        body = response.json()
        assert (body["path"], body["name"], body["kind"]) == ("inbox/sub/", "sub", "folder")

    async def test_nothing_there_is_a_404(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files/stat", params={"path": "inbox/gone.txt"}, headers=viewer_headers
        )

        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("operation", ["copy", "move"])
class TestCopyAndMove:
    """What copy and move share; the source stays after a copy and is gone after a move."""

    async def transfer(
        self, client: httpx.AsyncClient, headers: dict[str, str], operation: str, **body: Any
    ) -> httpx.Response:
        return await client.post(f"/api/v1/files/{operation}", json=body, headers=headers)

    async def test_a_file_into_an_existing_folder(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox/data.txt", dst="inbox/sub/d.txt"
        )

        assert response.status_code == 200, response.text
        assert response.json() == {"src": "inbox/data.txt", "dst": "inbox/sub/d.txt", "objects": 1}
        assert (disk.project_dir / "inbox/sub/d.txt").read_bytes() == b"project data\n"
        assert (disk.project_dir / "inbox/data.txt").exists() is (operation == "copy")

    async def test_a_file_into_new_folders(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox/data.txt", dst="x/y/z.txt"
        )

        assert response.status_code == 200, response.text
        assert (disk.project_dir / "x/y/z.txt").read_bytes() == b"project data\n"

    async def test_a_folder_with_everything_in_it(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        (disk.project_dir / "inbox" / "empty").mkdir()
        before = tree(disk.project_dir / "inbox")

        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox", dst="archive/2024"
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 2
        copied = tree(disk.project_dir / "archive" / "2024")
        assert {k: v for k, v in copied.items() if v is not None} == {
            k: v for k, v in before.items() if v is not None
        }
        assert (disk.project_dir / "inbox").exists() is (operation == "copy")

    @pytest.mark.parametrize("dst", ["inbox/sub/deep.txt", "inbox/sub"])
    async def test_an_existing_destination_is_a_409_without_overwrite(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
        dst: str,
    ) -> None:
        before = disk.snapshot()

        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox/data.txt", dst=dst
        )

        assert response.status_code == 409
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "overwrite" in response.json()["detail"]
        assert disk.snapshot() == before

    async def test_a_folder_onto_an_existing_folder_is_a_409_without_overwrite(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        put(disk.project_dir, {"other/file.txt": b"other"})
        before = disk.snapshot()

        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox", dst="other"
        )

        assert response.status_code == 409
        assert disk.snapshot() == before

    async def test_overwrite_replaces_a_file(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        response = await self.transfer(
            files_client,
            editor_headers,
            operation,
            src="inbox/data.txt",
            dst="inbox/sub/deep.txt",
            overwrite=True,
        )

        assert response.status_code == 200, response.text
        assert (disk.project_dir / "inbox/sub/deep.txt").read_bytes() == b"project data\n"
        assert (disk.project_dir / "inbox/data.txt").exists() is (operation == "copy")
        assert disk.temp_files() == []

    async def test_overwrite_merges_a_folder_into_one_replacing_files_of_the_same_name(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        put(disk.project_dir, {"other/data.txt": b"old", "other/keep.txt": b"kept"})

        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox", dst="other", overwrite=True
        )

        assert response.status_code == 200, response.text
        assert tree(disk.project_dir / "other") == {
            "data.txt": b"project data\n",
            "keep.txt": b"kept",
            "sub": None,
            "sub/deep.txt": b"deep\n",
        }

    @pytest.mark.parametrize(
        ("src", "dst"),
        [("inbox/data.txt", "inbox/sub"), ("inbox", "inbox2.txt")],
        ids=["file onto folder", "folder onto file"],
    )
    async def test_overwrite_never_changes_a_file_into_a_folder_or_back(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
        src: str,
        dst: str,
    ) -> None:
        put(disk.project_dir, {"inbox2.txt": b"a file"})
        before = disk.snapshot()

        response = await self.transfer(
            files_client, editor_headers, operation, src=src, dst=dst, overwrite=True
        )

        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert disk.snapshot() == before

    @pytest.mark.parametrize("dst", ["inbox/sub/inner", "inbox/sub/a/b", "inbox/"])
    async def test_a_folder_into_itself_is_a_400(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
        dst: str,
    ) -> None:
        before = disk.snapshot()
        src = "inbox" if dst == "inbox/" else "inbox/sub"

        response = await self.transfer(files_client, editor_headers, operation, src=src, dst=dst)

        assert response.status_code == 400, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert disk.snapshot() == before

    async def test_a_destination_under_a_file_is_a_409(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        before = disk.snapshot()

        response = await self.transfer(
            files_client,
            editor_headers,
            operation,
            src="inbox/sub/deep.txt",
            dst="inbox/data.txt/deep.txt",
        )

        assert response.status_code == 409, response.text
        assert "inbox/data.txt is a file" in response.json()["detail"]
        assert disk.snapshot() == before

    async def test_a_missing_source_is_a_404(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        operation: str,
    ) -> None:
        before = disk.snapshot()

        response = await self.transfer(
            files_client, editor_headers, operation, src="inbox/gone.txt", dst="inbox/x.txt"
        )

        assert response.status_code == 404
        assert disk.snapshot() == before


class TestDelete:
    async def test_a_file(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.delete(
            "/api/v1/files", params={"path": "inbox/data.txt"}, headers=editor_headers
        )

        assert response.json() == {"path": "inbox/data.txt", "objects": 1}
        assert tree(disk.project_dir) == {
            "inbox": None,
            "inbox/sub": None,
            "inbox/sub/deep.txt": b"deep\n",
        }

    async def test_a_folder_with_everything_in_it(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        put(disk.project_dir, {"inbox/sub/more/x.bin": b"x", "keep/y.bin": b"y"})

        response = await files_client.delete(
            "/api/v1/files", params={"path": "inbox"}, headers=editor_headers
        )

        assert response.json() == {"path": "inbox", "objects": 3}
        assert tree(disk.project_dir) == {"keep": None, "keep/y.bin": b"y"}

    async def test_nothing_there_is_a_404(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        before = disk.snapshot()

        response = await files_client.delete(
            "/api/v1/files", params={"path": "inbox/gone"}, headers=editor_headers
        )

        assert response.status_code == 404
        assert disk.snapshot() == before

    @pytest.mark.parametrize("path", ["", "/"])
    async def test_the_project_root_is_a_400(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        path: str,
    ) -> None:
        before = disk.snapshot()

        response = await files_client.delete(
            "/api/v1/files", params={"path": path}, headers=editor_headers
        )

        assert response.status_code == 400
        assert disk.snapshot() == before


class TestCreateFolder:
    async def test_with_its_parents(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/folders", json={"path": "runs/2024/june"}, headers=editor_headers
        )

        assert response.status_code == 201, response.text
        assert response.json() == {
            "path": "runs/2024/june/",
            "name": "june",
            "kind": "folder",
            "size": None,
            "modified": None,
            "etag": None,
            "sha256": None,
        }
        assert (disk.project_dir / "runs/2024/june").is_dir()

    async def test_an_existing_folder_is_fine(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/folders", json={"path": "inbox/sub"}, headers=editor_headers
        )

        assert response.status_code == 201
        assert (disk.project_dir / "inbox/sub/deep.txt").read_bytes() == b"deep\n"

    @pytest.mark.parametrize("path", ["inbox/data.txt", "inbox/data.txt/below"])
    async def test_a_file_in_the_way_is_a_409(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        path: str,
    ) -> None:
        before = disk.snapshot()

        response = await files_client.post(
            "/api/v1/files/folders", json={"path": path}, headers=editor_headers
        )

        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert disk.snapshot() == before


class TestUploadUrl:
    async def test_says_what_to_send(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/upload-url",
            json={"path": "inbox/new.csv", "size": 3, "content_type": "text/csv"},
            headers=editor_headers,
        )

        body = response.json()
        assert (body["path"], body["method"]) == ("inbox/new.csv", "PUT")
        assert body["headers"] == {"Content-Type": "text/csv"}
        assert "max_size=3" in body["url"]

    @pytest.mark.parametrize("path", ["inbox/sub", "inbox/data.txt/below.txt"])
    async def test_a_folder_or_a_file_in_the_way_is_a_409(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        disk: Any,
        path: str,
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/upload-url", json={"path": path}, headers=editor_headers
        )

        assert response.status_code == 409, response.text
        assert "url" not in response.json()

    async def test_a_file_put_in_the_way_after_the_url_was_issued_makes_the_put_a_409(
        self, files_client: httpx.AsyncClient, editor_headers: dict[str, str], disk: Any
    ) -> None:
        ticket = await files_client.post(
            "/api/v1/files/upload-url", json={"path": "later/x.txt"}, headers=editor_headers
        )
        put(disk.project_dir, {"later": b"a file where the folder would go"})

        response = await files_client.put(ticket.json()["url"], content=b"x")

        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert (disk.project_dir / "later").read_bytes() == b"a file where the folder would go"
        assert disk.temp_files() == []

    async def test_more_than_the_largest_object_is_a_400(
        self,
        files_client: httpx.AsyncClient,
        editor_headers: dict[str, str],
        files_settings: Any,
        disk: Any,
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/upload-url",
            json={"path": "inbox/huge.bam", "size": files_settings.MAX_OBJECT_BYTES + 1},
            headers=editor_headers,
        )

        assert response.status_code == 400
        assert "url" not in response.json()


class TestDownloadUrl:
    @pytest.mark.parametrize("path", ["inbox/sub", "inbox/gone.txt"])
    async def test_only_files_get_one(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        disk: Any,
        path: str,
    ) -> None:
        response = await files_client.get(
            "/api/v1/files/download-url", params={"path": path}, headers=viewer_headers
        )

        assert response.status_code == 404
        assert "url" not in response.json()

    async def test_names_the_file_and_its_size(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.get(
            "/api/v1/files/download-url", params={"path": "inbox/data.txt"}, headers=viewer_headers
        )

        body = response.json()
        assert (body["path"], body["method"], body["size"]) == ("inbox/data.txt", "GET", 13)
        assert body["url"].startswith("http://files.test/blobs/projects/")
        assert body["expires_at"].endswith("Z")
        # The body is written without the model (for speed): it must be what the model dumps.
        assert list(body) == list(DownloadUrl.model_fields)
        assert body == DownloadUrl.model_validate(body).model_dump(mode="json")

    @pytest.mark.parametrize(
        ("query", "status"),
        [
            ("path=inbox/gone.txt&path=inbox/data.txt", 200),
            ("path=inbox/data.txt&path=inbox/gone.txt", 404),
            ("path=inbox%2Fdata.txt", 200),
            ("x=1&path=inbox/data.txt&flag", 200),
            ("path=inbox/da+ta.txt", 404),
            ("path=", 400),
        ],
        ids=["last wins", "last wins, absent", "encoded", "among others", "plus", "blank"],
    )
    async def test_reads_its_path_from_the_query_as_fastapi_would(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        disk: Any,
        query: str,
        status: int,
    ) -> None:
        response = await files_client.get(
            f"/api/v1/files/download-url?{query}", headers=viewer_headers
        )

        assert response.status_code == status, response.text
        if status == 200:
            assert response.json()["path"] == "inbox/data.txt"
        if query.endswith("+ta.txt"):  # a '+' is a space, as in every form-encoded query
            assert response.json()["detail"] == "No file inbox/da ta.txt in this project."

    @pytest.mark.parametrize(
        ("params", "problem_type"),
        [({}, "missing"), ({"path": "x" * 4097}, "string_too_long")],
        ids=["no path", "path too long"],
    )
    async def test_a_bad_path_parameter_is_the_usual_422(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        params: dict[str, str],
        problem_type: str,
    ) -> None:
        """A plain route (for speed) that answers as FastAPI's query validation would."""
        response = await files_client.get(
            "/api/v1/files/download-url", params=params, headers=viewer_headers
        )

        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        errors = response.json()["errors"]
        assert [(e["location"], e["field"], e["type"]) for e in errors] == [
            ("query", "path", problem_type)
        ]

    async def test_its_requests_are_counted_under_its_route(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        await files_client.get(
            "/api/v1/files/download-url", params={"path": "inbox/data.txt"}, headers=viewer_headers
        )

        metrics = (await files_client.get("/metrics")).text
        assert (
            'http_requests_total{method="GET",route="/api/v1/files/download-url",status="200"}'
            in metrics
        )


class TestDownloadUrls:
    async def test_signs_each_file_and_every_url_downloads_it(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/download-urls",
            json={"paths": ["inbox/data.txt", "inbox/sub/deep.txt", "inbox/data.txt"]},
            headers=viewer_headers,
        )

        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [(item["path"], item["size"]) for item in items] == [
            ("inbox/data.txt", 13),
            ("inbox/sub/deep.txt", 5),
        ]
        bodies = [(await files_client.get(item["url"])).content for item in items]
        assert bodies == [b"project data\n", b"deep\n"]

    async def test_one_missing_file_fails_the_batch(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/download-urls",
            json={"paths": ["inbox/data.txt", "inbox/gone.txt"]},
            headers=viewer_headers,
        )

        assert response.status_code == 404
        assert "inbox/gone.txt" in response.json()["detail"]

    @pytest.mark.parametrize("paths", [[], ["x"] * 501])
    async def test_between_one_and_500_paths(
        self,
        files_client: httpx.AsyncClient,
        viewer_headers: dict[str, str],
        disk: Any,
        paths: list[str],
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/download-urls", json={"paths": paths}, headers=viewer_headers
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "paths"


class TestStatMany:
    async def test_says_which_paths_exist(
        self, files_client: httpx.AsyncClient, viewer_headers: dict[str, str], disk: Any
    ) -> None:
        response = await files_client.post(
            "/api/v1/files/stat",
            json={"paths": ["inbox/data.txt", "inbox/sub", "inbox/gone.txt", "inbox/data.txt"]},
            headers=viewer_headers,
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert [(e["path"], e["kind"]) for e in body["items"]] == [
            ("inbox/data.txt", "file"),
            ("inbox/sub/", "folder"),
        ]
        assert body["missing"] == ["inbox/gone.txt"]
