from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Upload = Callable[[str, bytes], Awaitable[None]]


@pytest.fixture
def upload(files_client: httpx.AsyncClient, project: Any) -> Upload:
    """Put a file into the project the way a user does: upload-url, then PUT."""
    editor, _, project_id = project

    async def put(path: str, data: bytes) -> None:
        ticket = await files_client.post(
            "/api/v1/files/upload-url",
            json={"path": path, "size": len(data)},
            headers=editor.in_project(project_id),
        )
        assert ticket.status_code == 200, ticket.text
        stored = await files_client.put(
            ticket.json()["url"], content=data, headers=ticket.json()["headers"]
        )
        assert stored.status_code == 200, stored.text

    return put
