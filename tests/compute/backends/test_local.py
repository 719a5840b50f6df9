"""The local backend with real processes: the detached launcher and the nextflow stand-in."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from nfhub_compute.backends.base import JobState, LaunchSpec, SubmitFailed
from nfhub_compute.backends.launchdir import (
    launch_environment,
    nextflow_command,
    nfhub_config,
    redact_secrets,
)
from nfhub_compute.backends.local import LocalBackend
from support.local_backend import launch_spec, wait_ended


def spec(run_id: uuid.UUID | None = None, **changes: Any) -> LaunchSpec:
    return launch_spec(run_id=run_id or uuid.uuid4(), **changes)


class TestSubmit:
    async def test_runs_nextflow_in_a_fresh_launch_dir_and_records_the_exit(
        self, backend: LocalBackend, tmp_path: Path
    ) -> None:
        job = await backend.submit(spec(params={"outdir": str(tmp_path / "out")}))

        status = await wait_ended(backend, job.handle)

        assert (status.state, status.exit_code) == (JobState.EXITED, 0)
        launch_dir = Path(job.launch_dir or "")
        assert launch_dir.parent == tmp_path / "work" / "runs"
        assert json.loads((launch_dir / "params.json").read_text())["outdir"] == str(
            tmp_path / "out"
        )
        assert "raw = true" in (launch_dir / "nfhub.config").read_text()
        assert (launch_dir / ".nextflow.log").exists()
        rows = [row async for row in backend.trace(job.handle)]
        assert [(row["process"], row["status"]) for row in rows] == [
            ("HELLO:FASTQC", "COMPLETED"), ("HELLO:MULTIQC", "COMPLETED"),
        ]  # fmt: skip
        log = await backend.logs(job.handle, source="console", start=0, limit=1)
        assert log.lines == ["N E X T F L O W  ~  version 24.04.4"] and not log.at_end
        # Nextflow's reports, into the run's outputs (the storage), not the launch dir.
        reports = tmp_path / "out" / "pipeline_info"
        assert "HELLO:MULTIQC" in (reports / "execution_report.html").read_text()
        assert (reports / "execution_timeline.html").exists()
        assert (reports / "pipeline_dag.html").exists()
        assert not [name for name in os.listdir(launch_dir) if name.endswith(".html")]

    async def test_the_environments_config_may_turn_a_report_off(
        self, backend: LocalBackend, tmp_path: Path
    ) -> None:
        extra = "timeline {\n    enabled = false\n}\n"
        job = await backend.submit(
            spec(params={"outdir": str(tmp_path / "out")}, extra_config=extra)
        )

        status = await wait_ended(backend, job.handle)

        assert status.exit_code == 0
        config = (Path(job.launch_dir or "") / "nfhub.config").read_text()
        assert config.index("timeline {\n    enabled = true") < config.index(extra)
        reports = sorted(path.name for path in (tmp_path / "out" / "pipeline_info").iterdir())
        assert reports == ["execution_report.html", "params.json", "pipeline_dag.html"]

    async def test_submitting_the_same_run_again_returns_the_first_job(
        self, backend: LocalBackend, invocations: Path
    ) -> None:
        run_id = uuid.uuid4()
        jobs = await asyncio.gather(*(backend.submit(spec(run_id)) for _ in range(5)))
        await wait_ended(backend, jobs[0].handle)
        later = await backend.submit(spec(run_id))

        assert len({json.dumps(job.handle, sort_keys=True) for job in [*jobs, later]}) == 1
        assert len((await asyncio.to_thread(invocations.read_text)).splitlines()) == 1

    async def test_no_nextflow_on_path_fails_with_a_clear_reason(self, tmp_path: Path) -> None:
        backend = LocalBackend(tmp_path, nextflow_bin="nextflow-that-is-not-installed")

        with pytest.raises(SubmitFailed, match="not on the worker's PATH"):
            await backend.submit(spec())

    async def test_a_resumed_run_gets_the_earlier_session_cache(
        self, backend: LocalBackend, tmp_path: Path
    ) -> None:
        first = await backend.submit(spec(params={"outdir": str(tmp_path / "o1")}))
        await wait_ended(backend, first.handle)
        history = (Path(first.launch_dir or "") / ".nextflow" / "history").read_text()
        session = history.split("\t")[-1].strip()

        second = await backend.submit(
            spec(
                params={"outdir": str(tmp_path / "o2")},
                work_dir=first.work_dir,
                resume_session_id=session,
                resume_launch_dir=first.launch_dir,
            )
        )
        await wait_ended(backend, second.handle)

        rows = [row async for row in backend.trace(second.handle)]
        assert {row["status"] for row in rows} == {"CACHED"}
        assert second.work_dir == first.work_dir


class TestStopAndWatch:
    async def test_sigterm_lets_nextflow_stop_itself(self, backend: LocalBackend) -> None:
        job = await backend.submit(spec(params={"outdir": "/x", "task_seconds": 30}))
        await asyncio.sleep(1.0)
        running = await backend.status(job.handle)
        active = await backend.list_active()

        await backend.cancel(job.handle, force=False)
        status = await wait_ended(backend, job.handle)

        assert running.state == JobState.RUNNING
        assert [job_.run_id for job_ in active] == [uuid.UUID(job.handle["run_id"])]
        assert (status.state, status.exit_code) == (JobState.EXITED, 143)
        assert await backend.list_active() == []
        await backend.cancel(job.handle, force=True)  # already gone: nothing happens

    async def test_sigkill_leaves_no_exit_code(self, backend: LocalBackend) -> None:
        job = await backend.submit(spec(params={"outdir": "/x", "task_seconds": 30}))
        await asyncio.sleep(0.5)

        await backend.cancel(job.handle, force=True)
        status = await wait_ended(backend, job.handle)

        assert status.state == JobState.LOST
        assert "left no exit code" in (status.detail or "")


class TestCommandLine:
    def test_the_command_is_the_one_in_the_architecture(self) -> None:
        command = nextflow_command(
            "/usr/bin/nextflow",
            spec(revision="3.14.0", profiles=["docker", "test"], resume_session_id="sid-1",
                 source="https://github.com/nf-core/rnaseq"),
            Path("/l"),
            Path("/w"),
        )  # fmt: skip

        assert command == [
            "/usr/bin/nextflow", "-log", "/l/.nextflow.log", "run",
            "https://github.com/nf-core/rnaseq", "-r", "3.14.0", "-name", "nfhub-test",
            "-params-file", "params.json", "-work-dir", "/w", "-c", "nfhub.config",
            "-ansi-log", "false", "-profile", "docker,test", "-resume", "sid-1",
        ]  # fmt: skip

    def test_the_weblog_url_is_in_the_run_config_not_the_command_line(self) -> None:
        url = "http://127.0.0.1:9/api/v1/runs/x/events?token=t"

        config = nfhub_config(url)

        assert "weblog {\n    enabled = true\n    url = '" + url + "'\n}" in config
        assert "trace {" in config

    def test_the_reports_go_to_the_outputs_before_the_environments_text(self) -> None:
        config = nfhub_config(None, "report.enabled = false", "s3://bucket/p/runs/r1/")

        assert (
            "report {\n    enabled = true\n"
            "    file = 's3://bucket/p/runs/r1/pipeline_info/execution_report.html'\n"
            "    overwrite = true\n}"
        ) in config
        assert "file = 's3://bucket/p/runs/r1/pipeline_info/pipeline_dag.html'" in config
        # The environment's text comes after (it wins), nfhub's trace and weblog last.
        assert config.index("dag {") < config.index("report.enabled = false")
        assert config.index("report.enabled = false") < config.index("trace {")
        assert nfhub_config(None).count("enabled = true") == 1  # the trace only

    def test_secrets_in_urls_are_redacted_from_log_lines(self) -> None:
        line = "$> nextflow run x -with-weblog https://h/api/v1/runs/r/events?token=abc123&x=1"

        assert redact_secrets(line) == (
            "$> nextflow run x -with-weblog https://h/api/v1/runs/r/events?token=[redacted]&x=1"
        )

    def test_the_pipeline_never_sees_the_services_secrets(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in ("DATABASE_URL", "SERVICE_SECRET", "COMPUTE_WEBLOG_SECRET", "ADMIN_URL"):
            monkeypatch.setenv(name, "secret-value")
        monkeypatch.setenv("NXF_SINGULARITY_CACHEDIR", "/cache")
        monkeypatch.setenv("LC_ALL", "C.UTF-8")

        env = launch_environment({"AWS_PROFILE": "lab"})

        assert "secret-value" not in env.values()
        assert env["NXF_SINGULARITY_CACHEDIR"] == "/cache" and env["LC_ALL"] == "C.UTF-8"
        assert env["AWS_PROFILE"] == "lab" and env["NXF_ANSI_LOG"] == "false"
        assert "PATH" in env
