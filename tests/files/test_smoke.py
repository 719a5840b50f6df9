import hashlib

import httpx


class TestTwoStepUploadAndDownload:
    async def test_upload_then_download_through_signed_urls(
        self, files_client: httpx.AsyncClient, project, storage_root
    ) -> None:
        editor, viewer, project_id = project
        data = b"@read1\nACGT\n+\nIIII\n" * 1000
        ticket = await files_client.post(
            "/api/v1/files/upload-url",
            json={
                "path": "raw/S1_R1.fastq",
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            headers=editor.in_project(project_id),
        )
        assert ticket.status_code == 200, ticket.text
        put = await files_client.put(
            ticket.json()["url"], content=data, headers=ticket.json()["headers"]
        )
        assert put.status_code == 200, put.text
        assert (storage_root / f"projects/{project_id}/raw/S1_R1.fastq").read_bytes() == data
        listing = await files_client.get(
            "/api/v1/files", params={"path": "raw/"}, headers=viewer.in_project(project_id)
        )
        assert [item["name"] for item in listing.json()["items"]] == ["S1_R1.fastq"]
        link = await files_client.get(
            "/api/v1/files/download-url",
            params={"path": "raw/S1_R1.fastq"},
            headers=viewer.in_project(project_id),
        )
        assert link.status_code == 200, link.text
        body = await files_client.get(link.json()["url"])
        assert body.content == data
        partial = await files_client.get(link.json()["url"], headers={"Range": "bytes=0-5"})
        assert partial.status_code == 206
        assert partial.content == data[:6]
