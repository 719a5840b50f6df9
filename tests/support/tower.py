"""Nextflow's Tower client as tests drive it: its auth header, its payloads, its requests."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from nfhub_admin.models import Project

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tower"
BASE = "/api/v1/tower"


def payload(name: str) -> dict[str, Any]:
    """A fresh copy of tests/fixtures/tower/<name>.json."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return copy.deepcopy(document)


def nextflow_auth(token: str) -> dict[str, str]:
    """The Authorization header as TowerClient.setAuthToken sends it: a JWT (two dots) as a
    bearer token, anything else as Basic credentials "@token:<token>"."""
    if token.count(".") == 2:
        return {"Authorization": f"Bearer {token}"}
    basic = base64.b64encode(f"@token:{token}".encode()).decode()
    return {"Authorization": f"Basic {basic}"}


async def workspace_of(session_factory: Any, project_id: Any) -> int:
    async with session_factory() as session:
        workspace_id: int = await session.scalar(
            select(Project.workspace_id).where(Project.id == project_id)
        )
    return workspace_id


@dataclass
class Nextflow:
    """Sends what Nextflow's client sends, to the workspace and with the token it was given."""

    client: httpx.AsyncClient
    token: str
    workspace_id: int | str | None

    async def call(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        token: str | None = None,
        workspace_id: int | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        workspace = self.workspace_id if workspace_id is None else workspace_id
        params = {} if workspace is None else {"workspaceId": str(workspace)}
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.client.request(
            method,
            BASE + path,
            content=content,
            params=params,
            headers={
                "Content-Type": "application/json",
                **nextflow_auth(token or self.token),
                **(headers or {}),
            },
        )

    async def create(self, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.call("POST", "/trace/create", body or payload("create"), **kwargs)

    async def put(self, workflow_id: str, step: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.call("PUT", f"/trace/{workflow_id}/{step}", body, **kwargs)

    async def started(self) -> str:
        """create then begin; the workflow id."""
        created = await self.create()
        assert created.status_code == 200, created.text
        workflow_id: str = created.json()["workflowId"]
        begun = await self.put(workflow_id, "begin", payload("begin"))
        assert begun.status_code == 200, begun.text
        return workflow_id


RunsOf = Callable[..., Awaitable[list[dict[str, Any]]]]
