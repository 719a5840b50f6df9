"""No path a client sends can reach outside ``projects/<project_id>/``: every path parameter of
every route, every escape we know, checked against the storage directory itself.

The table of routes (``FILE_ROUTES`` in conftest) is checked against the OpenAPI document: a new
route, or a new path field on a route, fails ``TestRouteTable`` until it has an entry.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nfhub_files.storage.errors import ObjectNotFound
from nfhub_files.storage.local import LocalStorage
from nfhub_files.storage.signing import BlobGrant, BlobSigner

PROBLEM_JSON = "application/problem+json"

# Not paths: checksums and media types are validated by pattern and never touch the disk.
NOT_PATHS = frozenset({"content_type", "sha256", "md5"})
# Per operation: an archive's name only names the download (Content-Disposition), never a key.
NOT_PATHS_OF = {"create_archive": frozenset({"name"})}
# Path-like inputs authorised by a signature rather than X-Project-ID: a changed key is a 403
# (blobs/test_signed_urls.py).
SIGNED_OPERATIONS = frozenset({"download_blob", "upload_blob"})
# What the server receives once the URL or JSON is decoded; {other} is another project's id,
# {outside} the absolute path of a file next to the storage root.
ESCAPES: dict[str, str] = {
    "dotdot": "..",
    "dotdot-into-other-project": "../{other}/secret.txt",
    "down-then-up-and-over": "inbox/../../{other}/secret.txt",
    "a/../../b": "a/../../b",
    "up-to-storage-root": "../../root-secret.txt",
    "up-out-of-storage-root": "../../../outside.txt",
    "absolute-etc-passwd": "/etc/passwd",
    "absolute-sentinel": "{outside}",
    "url-encoded": "%2e%2e%2f{other}%2fsecret.txt",
    "url-encoded-uppercase": "%2E%2E/%2E%2E/root-secret.txt",
    "double-encoded": "%252e%252e%252f{other}%252fsecret.txt",
    "backslashes": "..\\..\\root-secret.txt",
    "backslash-inside": "inbox\\data.txt",
    "nul": "inbox/data.txt\x00.png",
    "control-character": "inbox/\x1bdata.txt",
    "segment-over-255-bytes": "inbox/" + "a" * 256,
    "segment-over-255-bytes-multibyte": "inbox/" + "é" * 128,
    "path-over-1024-bytes": "/".join(["d" * 200] * 6),
    "dot-segment-first": "./inbox/data.txt",
    "dot-segment-inside": "inbox/./data.txt",
    "empty-segment": "inbox//data.txt",
    "reserved-temporary-name": "inbox/.nfhub-0123456789abcdef",
}


def escape(name: str, disk: Any) -> str:
    return ESCAPES[name].format(other=disk.other_project_id, outside=disk.outside_file)


def is_stringy(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "string":
        return schema.get("format") != "uuid"
    if schema.get("type") == "array":
        return is_stringy(schema.get("items", {}))
    return any(is_stringy(option) for option in schema.get("anyOf", []))


def path_inputs(document: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """Query, path and body inputs that could name a file: every string that is not NOT_PATHS."""
    names = {
        parameter["name"]
        for parameter in operation.get("parameters", [])
        if parameter["in"] in {"query", "path"} and is_stringy(parameter["schema"])
    }
    content = operation.get("requestBody", {}).get("content", {})
    for media in content.values():
        schema = media["schema"]
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        names |= {name for name, prop in schema.get("properties", {}).items() if is_stringy(prop)}
    return names - NOT_PATHS - NOT_PATHS_OF.get(operation["operationId"], frozenset())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "patch", "delete"}
    ]


class TestRouteTable:
    def test_every_path_taking_operation_has_an_entry(
        self, files_app: FastAPI, file_routes: dict[str, Any]
    ) -> None:
        document = files_app.openapi()
        missing = {}
        for method, path, operation in operations(document):
            inputs = path_inputs(document, operation)
            operation_id = operation["operationId"]
            if inputs and operation_id not in file_routes.keys() | SIGNED_OPERATIONS:
                missing[operation_id] = f"{method} {path} takes {sorted(inputs)}"

        assert missing == {}, "add these to FILE_ROUTES in tests/files/conftest.py"

    def test_every_path_field_of_each_entry_is_tested(
        self, files_app: FastAPI, file_routes: dict[str, Any]
    ) -> None:
        document = files_app.openapi()
        by_id = {operation["operationId"]: operation for _, _, operation in operations(document)}
        declared = {op_id: set(route.path_fields) for op_id, route in file_routes.items()}
        found = {op_id: path_inputs(document, by_id[op_id]) for op_id in file_routes}

        assert found == declared


def outcome(response: httpx.Response, changed: bool) -> str:
    """'refused' for a 400 Invalid path problem that issued no URL and changed nothing."""
    problem = response.headers.get("content-type") == PROBLEM_JSON
    body = response.json() if problem else {}
    if response.status_code == 400 and body.get("title") == "Invalid path" and not changed:
        return "url issued" if "url" in body else "refused"
    return f"{response.status_code} {body.get('title', response.text[:80])} changed={changed}"


class TestEscapesAreRefused:
    async def test_every_escape_is_a_400_that_touches_nothing(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        path_field: tuple[Any, str],
    ) -> None:
        route, field_name = path_field
        editor, _, project_id = project
        outcomes = {}
        for case in ESCAPES:
            before = disk.snapshot()

            response = await route.send(
                files_client, editor.in_project(project_id), **{field_name: escape(case, disk)}
            )

            outcomes[case] = outcome(response, disk.snapshot() != before)
        assert outcomes == dict.fromkeys(outcomes, "refused")

    async def test_query_values_are_decoded_once(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
    ) -> None:
        """The wire form reaches the check meant for it (not a validation error before it)."""
        editor, _, project_id = project
        stat = file_routes["stat_file"]
        reasons = {
            "url-encoded": "'..' segments",  # %2e%2e%2f arrives as ../
            "double-encoded": "encoded",  # %252e arrives as %2e
            "nul": "control characters",
            "path-over-1024-bytes": "1024 bytes",
            "segment-over-255-bytes-multibyte": "255 bytes",  # 128 characters, 256 bytes
        }
        details = {}
        for case in reasons:
            response = await stat.send(
                files_client, editor.in_project(project_id), path=escape(case, disk)
            )
            details[case] = response.json()["detail"]

        assert all(reasons[case] in detail for case, detail in details.items()), details


class TestSymlinks:
    """Someone with shell access links out of a project: the API must not follow the link."""

    @pytest.fixture
    def links(self, disk: Any) -> dict[str, Path]:
        elsewhere = disk.top / "elsewhere"
        elsewhere.mkdir()
        (elsewhere / "loot.txt").write_bytes(b"loot\n")
        links = {
            "to-outside-folder": disk.project_dir / "escape",
            "to-outside-file": disk.project_dir / "evil.txt",
            "to-other-project-folder": disk.project_dir / "peer",
            "to-other-project-file": disk.project_dir / "inbox" / "peer-secret.txt",
        }
        links["to-outside-folder"].symlink_to(elsewhere, target_is_directory=True)
        links["to-outside-file"].symlink_to(disk.outside_file)
        links["to-other-project-folder"].symlink_to(
            disk.other_project_file.parent, target_is_directory=True
        )
        links["to-other-project-file"].symlink_to(disk.other_project_file)
        return links

    READS = [
        ("stat_file", "escape/loot.txt"),
        ("stat_file", "evil.txt"),
        ("stat_file", "peer/secret.txt"),
        ("stat_file", "inbox/peer-secret.txt"),
        ("get_download_url", "escape/loot.txt"),
        ("get_download_url", "evil.txt"),
        ("get_download_url", "peer/secret.txt"),
        ("get_download_url", "inbox/peer-secret.txt"),
        ("list_files", "escape/"),
        ("list_files", "peer/"),
    ]

    async def test_reads_through_a_link_are_not_found(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        file_routes: dict[str, Any],
        links: dict[str, Path],
    ) -> None:
        _, viewer, project_id = project
        statuses = {}
        for operation_id, path in self.READS:
            route = file_routes[operation_id]

            response = await route.send(files_client, viewer.in_project(project_id), path=path)

            url_issued = "url" in response.json()
            statuses[f"{route.name} {path}"] = (response.status_code, url_issued)
        assert statuses == dict.fromkeys(statuses, (404, False))

    WRITES = [
        ("create_upload_url", {"path": "escape/new.txt"}),
        ("create_upload_url", {"path": "peer/new.txt"}),
        ("create_upload_url", {"path": "evil.txt"}),
        ("start_multipart_upload", {"path": "escape/big.bin"}),
        ("start_multipart_upload", {"path": "peer/secret.txt"}),
        ("create_folder", {"path": "escape/made"}),
        ("create_folder", {"path": "peer/made"}),
        ("copy_files", {"src": "evil.txt", "dst": "got.txt"}),
        ("copy_files", {"src": "peer/secret.txt", "dst": "got.txt"}),
        ("copy_files", {"src": "escape", "dst": "got"}),
        ("copy_files", {"src": "inbox/data.txt", "dst": "escape/x"}),
        ("copy_files", {"src": "inbox/data.txt", "dst": "peer/x"}),
        (
            "copy_files",
            {"src": "inbox/data.txt", "dst": "evil.txt", "overwrite": True},
        ),
        ("move_files", {"src": "evil.txt", "dst": "got.txt"}),
        ("move_files", {"src": "peer/secret.txt", "dst": "got.txt"}),
        ("move_files", {"src": "inbox/peer-secret.txt", "dst": "got"}),
        ("move_files", {"src": "inbox/data.txt", "dst": "escape/x"}),
        (
            "move_files",
            {"src": "inbox/data.txt", "dst": "peer/secret.txt", "overwrite": True},
        ),
        ("delete_files", {"path": "escape/loot.txt"}),
        ("delete_files", {"path": "evil.txt"}),
        ("delete_files", {"path": "peer/secret.txt"}),
        ("delete_files", {"path": "inbox/peer-secret.txt"}),
        ("create_archive", {"paths": "escape"}),
        ("create_archive", {"paths": "peer/secret.txt"}),
    ]

    async def test_writes_through_a_link_change_nothing(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        file_routes: dict[str, Any],
        links: dict[str, Path],
    ) -> None:
        """The snapshot holds the links' targets (bytes included): none is written or moved."""
        editor, _, project_id = project
        outcomes = {}
        for operation_id, values in self.WRITES:
            route = file_routes[operation_id]
            before = disk.snapshot()

            response = await route.send(files_client, editor.in_project(project_id), **values)

            outcomes[f"{route.name} {values}"] = (
                response.status_code,
                response.headers["content-type"],
                "url" in response.json() or "parts" in response.json(),
                disk.snapshot() == before,
            )
        assert outcomes == dict.fromkeys(outcomes, (404, PROBLEM_JSON, False, True))

    async def test_links_are_not_listed(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        links: dict[str, Path],
    ) -> None:
        _, viewer, project_id = project

        root = await files_client.get("/api/v1/files", headers=viewer.in_project(project_id))
        inbox = await files_client.get(
            "/api/v1/files", params={"path": "inbox"}, headers=viewer.in_project(project_id)
        )

        assert [item["path"] for item in root.json()["items"]] == ["inbox/"]
        assert [item["path"] for item in inbox.json()["items"]] == [
            "inbox/sub/",
            "inbox/data.txt",
        ]

    async def test_copying_a_folder_with_links_copies_only_its_own_files(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        links: dict[str, Path],
    ) -> None:
        editor, _, project_id = project

        response = await files_client.post(
            "/api/v1/files/copy",
            json={"src": "inbox", "dst": "copy"},
            headers=editor.in_project(project_id),
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 2
        copied = sorted(
            path.relative_to(disk.project_dir / "copy").as_posix()
            for path in (disk.project_dir / "copy").rglob("*")
        )
        assert copied == ["data.txt", "sub", "sub/deep.txt"]

    async def test_deleting_a_folder_with_links_leaves_their_targets(
        self,
        files_client: httpx.AsyncClient,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        links: dict[str, Path],
    ) -> None:
        editor, _, project_id = project
        secret = disk.other_project_file.read_bytes()

        response = await files_client.delete(
            "/api/v1/files", params={"path": "inbox"}, headers=editor.in_project(project_id)
        )

        assert response.status_code == 200, response.text
        assert response.json()["objects"] == 2
        assert not (disk.project_dir / "inbox").exists()
        assert disk.other_project_file.read_bytes() == secret

    async def test_a_signed_upload_url_through_a_link_writes_nothing_outside(
        self,
        files_client: httpx.AsyncClient,
        files_app: FastAPI,
        project: tuple[Any, Any, uuid.UUID],
        disk: Any,
        links: dict[str, Path],
    ) -> None:
        """Even a URL signed for the key (say, issued before the link appeared) cannot write
        through it."""
        signer = files_app.state.storage.signer
        before = disk.snapshot()
        statuses = []
        for relative in ("escape/new.txt", "evil.txt", "peer/secret.txt"):
            key = f"projects/{project[2]}/{relative}"
            grant = BlobGrant("PUT", key, 2**31, 100, None, None, None, None)

            response = await files_client.put(signer.url(grant), content=b"pwned")
            statuses.append(response.status_code)

        assert statuses == [404, 404, 404]
        assert disk.snapshot() == before


class TestLocalStoragePath:
    """The last line of defence: LocalStorage.path() for keys no validated path produces."""

    @pytest.mark.parametrize(
        "key",
        [
            "../outside.txt",
            "projects/{project}/../../outside.txt",
            "projects/{project}/../{other}/secret.txt",
            "projects/{project}/../../root-secret.txt",
            "projects/../root-secret.txt",
            "projects/{project}/inbox/../../{other}/secret.txt",
            "{outside}",
        ],
    )
    def test_keys_leaving_their_project_are_refused(
        self, storage_root: Path, disk: Any, key: str
    ) -> None:
        storage = LocalStorage(storage_root, BlobSigner("s" * 32, "http://files.test"), 1)
        resolved_key = key.format(
            project=disk.project_dir.name, other=disk.other_project_id, outside=disk.outside_file
        )

        with pytest.raises(ObjectNotFound):
            storage.path(resolved_key)

    def test_keys_inside_their_project_resolve_there(self, storage_root: Path, disk: Any) -> None:
        storage = LocalStorage(storage_root, BlobSigner("s" * 32, "http://files.test"), 1)

        path = storage.path(f"projects/{disk.project_dir.name}/inbox/data.txt")

        assert path == (disk.project_dir / "inbox" / "data.txt").resolve()
        assert os.path.commonpath([path, storage_root.resolve()]) == str(storage_root.resolve())
