"""A run's secrets with the local backend, real processes: the per-run Nextflow store that
the launcher alone reads, the value reaching the stand-in's task, and nothing left after."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nfhub_compute.backends import launcher
from nfhub_compute.backends.base import JobState, LaunchSpec
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.secrets_store import store_path
from support.local_backend import launch_spec, wait_ended

VALUE = "s3cr3t-$HOME \"quoted\" 'single' ünï"


def spec(tmp_path: Path, **changes: Any) -> LaunchSpec:
    return launch_spec(
        "secretive",
        nextflow_name="nfhub-secrets-test",
        **{"params": {"outdir": str(tmp_path / "out"), "task_seconds": 0},
           "secrets": {"GREETING": VALUE}, **changes},
    )  # fmt: skip


async def wait_started(invocations: Path) -> None:
    """Until nextflow runs: the launcher is then past its start and outlives a SIGTERM."""
    async with asyncio.timeout(20):
        while not await asyncio.to_thread(invocations.exists):  # noqa: ASYNC110 - a file
            await asyncio.sleep(0.05)


def files_holding(folder: Path, text: str) -> list[Path]:
    needle = text.encode()
    return [path for path in folder.rglob("*") if path.is_file() and needle in path.read_bytes()]


class TestSecretsStore:
    async def test_the_value_reaches_the_task_and_leaves_no_trace_in_the_launch_dir(
        self, backend: LocalBackend, tmp_path: Path, invocations: Path
    ) -> None:
        job = await backend.submit(spec(tmp_path))
        status = await wait_ended(backend, job.handle)

        assert (status.state, status.exit_code) == (JobState.EXITED, 0)
        launch_dir, work_dir = Path(job.launch_dir or ""), Path(job.work_dir or "")
        digests = await asyncio.to_thread(
            lambda: [p.read_text().strip() for p in work_dir.rglob("greeting.sha256")]
        )
        assert digests == [hashlib.sha256(VALUE.encode()).hexdigest()]
        assert not (launch_dir / ".secrets").exists()
        assert files_holding(launch_dir, "s3cr3t") == []
        assert files_holding(work_dir, "s3cr3t") == []
        assert "s3cr3t" not in await asyncio.to_thread(invocations.read_text)  # command lines

    async def test_the_store_is_the_launchers_alone_while_the_run_goes(
        self, backend: LocalBackend, tmp_path: Path, invocations: Path
    ) -> None:
        job = await backend.submit(
            spec(tmp_path, params={"outdir": str(tmp_path / "o"), "task_seconds": 30})
        )
        store = store_path(Path(job.launch_dir or ""))
        try:
            await wait_started(invocations)
            content = json.loads(store.read_text())
            modes = (stat.S_IMODE(store.stat().st_mode), stat.S_IMODE(store.parent.stat().st_mode))
        finally:
            await backend.cancel(job.handle, force=False)
        status = await wait_ended(backend, job.handle)

        # Nextflow's LocalSecretsProvider format (a Gson list of SecretImpl), rw------- only.
        assert content == [{"name": "GREETING", "value": VALUE}]
        assert modes == (0o600, 0o700)
        assert (status.state, status.exit_code) == (JobState.EXITED, 143)
        assert not store.parent.exists()

    async def test_a_killed_launcher_leaves_the_store_to_the_backend(
        self, backend: LocalBackend, tmp_path: Path
    ) -> None:
        job = await backend.submit(
            spec(tmp_path, params={"outdir": str(tmp_path / "o"), "task_seconds": 30})
        )
        store = store_path(Path(job.launch_dir or ""))
        assert store.exists()

        await backend.cancel(job.handle, force=True)
        status = await wait_ended(backend, job.handle)

        assert status.state == JobState.LOST
        assert not store.parent.exists()

    async def test_a_store_left_by_a_killed_worker_goes_when_the_run_is_seen_ended(
        self, backend: LocalBackend, tmp_path: Path
    ) -> None:
        job = await backend.submit(spec(tmp_path, secrets={}))
        await wait_ended(backend, job.handle)
        store = store_path(Path(job.launch_dir or ""))
        store.parent.mkdir()  # as if the launcher had died before removing it
        store.write_text("[]")

        await backend.status(job.handle)

        assert not store.parent.exists()

    async def test_a_run_never_reads_the_worker_hosts_own_store(
        self, tmp_path: Path, invocations: Path
    ) -> None:
        host_store = tmp_path / "host-store.json"
        host_store.write_text(json.dumps([{"name": "GREETING", "value": "host-secret"}]))
        host_store.chmod(0o600)
        backend = LocalBackend(
            tmp_path / "work",
            env={"NXF_SECRETS_FILE": str(host_store),
                 "NFHUB_FAKE_NEXTFLOW_INVOCATIONS": str(invocations)},
        )  # fmt: skip

        job = await backend.submit(spec(tmp_path, secrets={}))
        status = await wait_ended(backend, job.handle)

        assert (status.state, status.exit_code) == (JobState.EXITED, 1)
        log = (Path(job.launch_dir or "") / "console.log").read_text()
        assert "Required secret is missing: 'GREETING'" in log
        assert "host-secret" not in log

    def test_the_spec_never_shows_the_values(self, tmp_path: Path) -> None:
        launch = spec(tmp_path)

        assert "s3cr3t" not in repr(launch) and "s3cr3t" not in str(launch)


class TestLauncher:
    def test_it_removes_the_secrets_folder_before_it_records_the_end(self, tmp_path: Path) -> None:
        folder = tmp_path / ".secrets"
        folder.mkdir()
        (folder / "store.json").write_text("[]")
        exit_file = tmp_path / "exit.json"

        code = subprocess.call(
            [sys.executable, "-I", "-S", launcher.__file__, "--cwd", str(tmp_path),
             "--exit-file", str(exit_file), "--secrets-dir", str(folder), "--",
             sys.executable, "-c", f"import os, sys; sys.exit(not os.path.isdir({str(folder)!r}))"],
        )  # fmt: skip

        assert code == 0  # the command still saw its secrets
        assert json.loads(exit_file.read_text())["exit_code"] == 0
        assert not folder.exists()

    @pytest.mark.parametrize(
        "argv",
        [
            ["--cwd", "/tmp", "--", "true"],
            ["--exit-file", "/tmp/x", "--", "true"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "true"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "--"],
            ["--cwd", "/tmp", "--exit-file", "/tmp/x", "--secrets", "/s", "--", "true"],
        ],
    )
    def test_a_wrong_command_line_is_refused(self, argv: list[str]) -> None:
        assert launcher.main(argv) == 2
