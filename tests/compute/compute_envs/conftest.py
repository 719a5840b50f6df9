"""Compute environments in-process: an org's team, folders for environments, a second org."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from support.inprocess import Team

NewEnv = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def env_root(tmp_path: Path) -> Path:
    root = tmp_path / "envs"
    (root / "work").mkdir(parents=True)
    (root / "launch").mkdir()
    return root


@pytest.fixture
def new_env(compute_client: httpx.AsyncClient, team: Team, env_root: Path) -> NewEnv:
    """POST /compute-envs of a local environment in env_root, as the project admin;
    keyword arguments change the body."""

    async def post(role: str = "admin", **overrides: Any) -> httpx.Response:
        body = {
            "name": "local-1",
            "backend": "local",
            "work_dir": str(env_root / "work"),
            "launch_dir": str(env_root / "launch"),
            **overrides,
        }
        return await compute_client.post(
            "/api/v1/compute-envs", json=body, headers=team.headers(role)
        )

    return post


@dataclass(frozen=True)
class Outsider:
    """The admin of a project in another org."""

    headers: dict[str, str]
    client: httpx.AsyncClient
    root: Path

    async def create_env(self, name: str = "theirs") -> httpx.Response:
        body = {"name": name, "backend": "local", "work_dir": str(self.root),
                "launch_dir": str(self.root)}  # fmt: skip
        return await self.client.post("/api/v1/compute-envs", json=body, headers=self.headers)


@pytest_asyncio.fixture
async def outsider(factory: Any, compute_client: httpx.AsyncClient, env_root: Path) -> Outsider:
    owner, admin = await factory.user(), await factory.user()
    org_id = await factory.org(owner)
    project_id = await factory.project(org_id, members={admin: "admin"})
    return Outsider(dict(admin.in_project(project_id)), compute_client, env_root)
