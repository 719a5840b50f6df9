"""A git source must answer `git ls-remote` (and have the revision) before it is registered."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nfhub_compute.config import Settings

PROBLEM_JSON = "application/problem+json"
# The schema takes https:// and git@ URLs only (never file://): git's own url.<base>.insteadOf
# maps this host to a real repository made in tmp, through the file:// protocol.
GIT_HOST = "https://git.test/"


@pytest.fixture
def compute_settings(compute_settings: Settings) -> Settings:
    return compute_settings.model_copy(
        update={"PIPELINE_SOURCE_CHECK": True, "PIPELINE_SOURCE_CHECK_SECONDS": 1.0}
    )


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real git repository (branch main, tag v1.0) served as https://git.test/hello.git."""
    work, bare = tmp_path / "work", tmp_path / "served" / "hello.git"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work)], check=True)
    (work / "main.nf").write_text("workflow {}\n")
    subprocess.run([*git, "-C", str(work), "add", "main.nf"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "hello"], check=True)
    subprocess.run([*git, "-C", str(work), "tag", "v1.0"], check=True)
    subprocess.run([*git, "clone", "-q", "--bare", str(work), str(bare)], check=True)
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", f"url.file://{bare.parent}/.insteadOf")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", GIT_HOST)
    return f"{GIT_HOST}hello.git"


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def register(
    client: httpx.AsyncClient, team: Any, url: str, revision: str = "v1.0"
) -> httpx.Response:
    return await client.post(
        "/api/v1/pipelines",
        json={"slug": "git", "name": "Git", "version": {
            "version": "1", "source": {"url": url, "revision": revision}}},
        headers=team.headers("admin"),
    )  # fmt: skip


class TestGitSources:
    @pytest.mark.parametrize("revision", ["v1.0", "main", "refs/tags/v1.0", "0123abcd"])
    async def test_a_repository_that_answers_with_the_revision_is_registered(
        self, compute_client: httpx.AsyncClient, team: Any, repository: str, revision: str
    ) -> None:
        response = await register(compute_client, team, repository, revision)

        assert response.status_code == 201, response.text
        assert response.json()["version"]["source"]["url"] == repository

    async def test_a_missing_revision_is_422_naming_the_revision(
        self, compute_client: httpx.AsyncClient, team: Any, repository: str
    ) -> None:
        response = await register(compute_client, team, repository, "v2.0")

        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["field"] == "version.source.revision"
        assert "has no branch or tag 'v2.0'" in problem["detail"] and "v1.0" in problem["detail"]

    async def test_a_repository_that_does_not_exist_is_422(
        self, compute_client: httpx.AsyncClient, team: Any, repository: str
    ) -> None:
        response = await register(compute_client, team, f"{GIT_HOST}nothing.git")

        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert problem["title"] == "Invalid pipeline source"
        assert problem["errors"][0] | {"message": ""} == {
            "location": "body", "field": "version.source.url", "message": "",
            "type": "value_error",
        }  # fmt: skip
        assert "does not answer as a git repository" in problem["detail"]
        listed = await compute_client.get("/api/v1/pipelines", headers=team.headers("admin"))
        assert listed.json()["count"] == 0

    async def test_an_unreachable_server_is_422_fast(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        started = time.monotonic()
        response = await register(compute_client, team, f"https://127.0.0.1:{closed_port()}/x.git")

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "version.source.url"
        assert "does not answer as a git repository" in response.json()["detail"]
        assert time.monotonic() - started < 5

    async def test_a_server_that_never_answers_is_cut_off_without_blocking_others(
        self, compute_client: httpx.AsyncClient, team: Any, black_hole: int
    ) -> None:
        slow = asyncio.create_task(
            register(compute_client, team, f"https://127.0.0.1:{black_hole}/x.git")
        )
        await asyncio.sleep(0.2)
        other = await compute_client.get("/api/v1/pipelines", headers=team.headers("viewer"))
        answered_meanwhile = not slow.done()
        response = await slow

        assert other.status_code == 200 and answered_meanwhile
        assert response.status_code == 422
        assert "did not answer git ls-remote within 1 s" in response.json()["detail"]

    async def test_a_version_added_later_is_checked_too(
        self, compute_client: httpx.AsyncClient, team: Any, repository: str
    ) -> None:
        await register(compute_client, team, repository)
        response = await compute_client.post(
            "/api/v1/pipelines/slug/git/versions",
            json={"version": "2", "source": {"url": repository, "revision": "nope"}},
            headers=team.headers("admin"),
        )

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "source.revision"

    async def test_without_git_the_check_says_how_to_turn_it_off(
        self,
        compute_client: httpx.AsyncClient,
        team: Any,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        response = await register(compute_client, team, "https://github.com/nf-core/rnaseq")

        assert response.status_code == 503
        assert "COMPUTE_PIPELINE_SOURCE_CHECK=false" in response.json()["detail"]


class TestAirGapped:
    @pytest.fixture
    def compute_settings(self, compute_settings: Settings) -> Settings:
        return compute_settings.model_copy(update={"PIPELINE_SOURCE_CHECK": False})

    async def test_the_check_can_be_turned_off(
        self, compute_client: httpx.AsyncClient, team: Any
    ) -> None:
        response = await register(compute_client, team, f"https://127.0.0.1:{closed_port()}/x")

        assert response.status_code == 201, response.text
