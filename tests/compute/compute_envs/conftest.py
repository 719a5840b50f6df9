"""Compute environments in-process: an org's team, folders for environments, a second org."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from nfhub_compute.backends.local import _boot_id, process_identity
from support.inprocess import Team

NewEnv = Callable[..., Awaitable[httpx.Response]]
AliveHandle = Callable[..., dict[str, Any]]


@pytest.fixture
def alive_handle() -> AliveHandle:
    """A launcher handle in a launch dir: this very test process (so it is alive), started on
    ``host`` (this machine's name unless told)."""

    def handle(run_id: str, launch_dir: Path, host: str | None = None) -> dict[str, Any]:
        launch_dir.mkdir(parents=True, exist_ok=True)
        identity = process_identity(os.getpid())
        assert identity is not None
        return {
            "run_id": run_id, "pid": os.getpid(), "start_ticks": identity[0],
            "boot_id": _boot_id(), "host": host or socket.gethostname(),
            "launch_dir": str(launch_dir),
            "work_dir": str(launch_dir.parent.parent / "work" / run_id),
        }  # fmt: skip

    return handle


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
