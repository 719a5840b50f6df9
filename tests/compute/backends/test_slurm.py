"""The Slurm backend on a real single-node Slurm (tests/support/slurm.py), launching the
nextflow stand-in as the head job's program."""

from __future__ import annotations

import asyncio
import hashlib
import json
import stat
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nfhub_compute.backends.base import JobState, JobStatus, LaunchSpec, SubmitFailed
from nfhub_compute.backends.factory import create_backend
from nfhub_compute.backends.slurm import SlurmBackend, SlurmJobOptions
from nfhub_compute.config import Settings
from support.slurm import SlurmCluster, dead_controller_conf

pytestmark = [pytest.mark.slurm, pytest.mark.xdist_group("slurm")]

TESTS = Path(__file__).resolve().parents[2]
HELLO = TESTS / "fakes" / "pipelines" / "hello"
NEXTFLOW = TESTS / "fakes" / "nextflow"
TOKEN = "weblog-secret-token-4711"
# Asks for more than the `tiny` partition's MaxTime=1: Slurm keeps the job PENDING.
HELD = SlurmJobOptions(partition="tiny", time_limit="5")


def spec(run_id: uuid.UUID | None = None, **params: Any) -> LaunchSpec:
    return LaunchSpec(
        run_id=run_id or uuid.uuid4(),
        nextflow_name="nfhub-test",
        source=str(HELLO),
        revision=None,
        params={"outdir": "/nonexistent-out-is-fine", "task_seconds": 0, **params},
        profiles=[],
        weblog_url=f"http://127.0.0.1:9/api/v1/runs/x/events?token={TOKEN}",
    )


@pytest.fixture
def invocations(tmp_path: Path) -> Path:
    return tmp_path / "invocations.jsonl"


@pytest.fixture
def make_backend(
    slurm: SlurmCluster, tmp_path: Path, invocations: Path
) -> Callable[..., SlurmBackend]:
    def make(options: SlurmJobOptions | None = None, root: Path = tmp_path) -> SlurmBackend:
        return SlurmBackend(
            launch_root=root / "launch",
            work_root=root / "work",
            nextflow_bin=str(NEXTFLOW),
            env={"NFHUB_FAKE_NEXTFLOW_INVOCATIONS": str(invocations)},
            options=options or SlurmJobOptions(),
        )

    for folder in ("launch", "work"):
        (tmp_path / folder).mkdir()
    return make


@pytest.fixture
def backend(make_backend: Callable[..., SlurmBackend]) -> SlurmBackend:
    return make_backend()


async def wait_for(
    backend: SlurmBackend,
    handle: dict[str, Any],
    done: Callable[[JobStatus], bool],
    seconds: float = 30,
) -> JobStatus:
    async with asyncio.timeout(seconds):
        while True:
            status = await backend.status(handle)
            if done(status):
                return status
            await asyncio.sleep(0.1)


def ended(status: JobStatus) -> bool:
    return status.state in (JobState.EXITED, JobState.LOST)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.1)


def slurm_state(slurm: SlurmCluster, job_id: str) -> str:
    return slurm.run("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T").stdout.strip()


class TestSubmit:
    async def test_the_head_job_runs_the_pipeline_and_records_its_exit(
        self, backend: SlurmBackend, slurm: SlurmCluster, tmp_path: Path
    ) -> None:
        run = spec(outdir=str(tmp_path / "out"), task_seconds=1)

        job = await backend.submit(run)
        running = await wait_for(backend, job.handle, lambda s: s.state == JobState.RUNNING)
        status = await wait_for(backend, job.handle, ended)

        assert (status.state, status.exit_code) == (JobState.EXITED, 0)
        assert running.state == JobState.RUNNING
        assert job.launch_dir == str(tmp_path / "launch" / str(run.run_id))
        assert job.work_dir == str(tmp_path / "work" / str(run.run_id))
        assert job.handle["job_name"] == f"nfhub-{run.run_id}"
        assert slurm_state(slurm, job.handle["job_id"]) == "COMPLETED"
        rows = [row async for row in backend.trace(job.handle)]
        assert [(row["process"], row["status"]) for row in rows] == [
            ("HELLO:FASTQC", "COMPLETED"), ("HELLO:MULTIQC", "COMPLETED"),
        ]  # fmt: skip
        log = await backend.logs(job.handle, source="console", start=0, limit=1)
        assert log.lines == ["N E X T F L O W  ~  version 24.04.4"]
        assert (tmp_path / "out" / "pipeline_info" / "params.json").exists()
        # Nextflow's reports, into the run's outputs (the storage), not the launch dir.
        reports = tmp_path / "out" / "pipeline_info"
        for name in ("execution_report.html", "execution_timeline.html", "pipeline_dag.html"):
            assert (reports / name).read_text().startswith("<!DOCTYPE html>"), name

    async def test_the_weblog_secret_stays_in_the_private_config(
        self, backend: SlurmBackend, slurm: SlurmCluster
    ) -> None:
        job = await backend.submit(spec())
        await wait_for(backend, job.handle, ended)
        launch_dir = Path(job.launch_dir or "")

        shown = slurm.run("scontrol", "show", "job", "-dd", job.handle["job_id"]).stdout
        script = slurm.run("scontrol", "write", "batch_script", job.handle["job_id"], "-").stdout

        assert stat.S_IMODE((launch_dir / "nfhub.config").stat().st_mode) == 0o600
        assert TOKEN in (launch_dir / "nfhub.config").read_text()
        assert TOKEN not in shown and TOKEN not in script
        assert script == (launch_dir / "job.sbatch").read_text()
        assert f"Comment=nfhub run {job.handle['run_id']}" in shown

    async def test_the_job_gets_the_launch_environment_never_the_workers(
        self, slurm: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://nfhub:worker-secret@db/nfhub")
        dump = tmp_path / "print-env"
        dump.write_text("#!/bin/sh\nenv > env.txt\n")
        dump.chmod(0o755)
        backend = SlurmBackend(
            launch_root=tmp_path / "launch", work_root=tmp_path / "work",
            nextflow_bin=str(dump), env={"AWS_PROFILE": "lab"}, options=SlurmJobOptions(),
        )  # fmt: skip

        job = await backend.submit(spec())
        status = await wait_for(backend, job.handle, ended)

        seen = (Path(job.launch_dir or "") / "env.txt").read_text()
        assert (status.state, status.exit_code) == (JobState.EXITED, 0)
        assert "AWS_PROFILE=lab" in seen and "NXF_ANSI_LOG=false" in seen
        assert "worker-secret" not in seen and "DATABASE_URL" not in seen

    async def test_a_failing_pipeline_ends_with_its_exit_code(self, backend: SlurmBackend) -> None:
        job = await backend.submit(spec(fail_process="FASTQC", exit_code=3))

        status = await wait_for(backend, job.handle, ended)

        assert (status.state, status.exit_code) == (JobState.EXITED, 1)

    async def test_submitting_the_same_run_again_submits_one_job(
        self, backend: SlurmBackend, slurm: SlurmCluster, invocations: Path
    ) -> None:
        run_id = uuid.uuid4()
        jobs = await asyncio.gather(*(backend.submit(spec(run_id)) for _ in range(4)))
        await wait_for(backend, jobs[0].handle, ended)
        later = await backend.submit(spec(run_id))

        assert len({json.dumps(job.handle, sort_keys=True) for job in [*jobs, later]}) == 1
        named = slurm.run("squeue", "-h", "-t", "all", "-n", f"nfhub-{run_id}", "-o", "%i")
        assert named.stdout.split() == [jobs[0].handle["job_id"]]
        assert len((await asyncio.to_thread(invocations.read_text)).splitlines()) == 1

    async def test_a_job_submitted_before_a_crash_is_found_by_its_name(
        self, make_backend: Callable[..., SlurmBackend]
    ) -> None:
        backend = make_backend(HELD)
        run = spec()
        first = await backend.submit(run)
        # The worker died after sbatch, before it recorded the job.
        (Path(first.launch_dir or "") / "job.json").unlink()

        again = await make_backend(HELD).submit(run)

        assert again.handle["job_id"] == first.handle["job_id"]
        await backend.cancel(first.handle, force=True)

    async def test_a_job_that_ended_is_found_in_the_completion_log(
        self, backend: SlurmBackend
    ) -> None:
        job = await backend.submit(spec())
        await wait_for(backend, job.handle, ended)

        # What status reads once the controller forgot the job (after MinJobAge).
        logged = await backend._completed(job.handle["job_id"])

        assert logged is not None
        assert (logged.name, logged.state) == (job.handle["job_name"], "COMPLETED")

    async def test_a_job_slurm_never_heard_of_is_lost_unless_it_left_an_exit_code(
        self, backend: SlurmBackend, tmp_path: Path
    ) -> None:
        handle = {"run_id": "r", "job_id": "999999", "launch_dir": str(tmp_path / "gone")}
        (tmp_path / "gone").mkdir()

        lost = await backend.status(handle)
        (tmp_path / "gone" / "exit.json").write_text('{"exit_code": 0}')
        exited = await backend.status(handle)

        assert lost.state == JobState.LOST
        assert lost.detail == (
            "the Slurm job 999999 is gone from squeue and the job completion log without an "
            "exit code from the launcher"
        )
        assert (exited.state, exited.exit_code) == (JobState.EXITED, 0)

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            (SlurmJobOptions(partition="no-such-partition"), "invalid partition"),
            (SlurmJobOptions(time_limit="soon"), "Invalid --time specification"),
        ],
    )
    async def test_a_job_slurm_refuses_fails_with_slurms_reason(
        self, make_backend: Callable[..., SlurmBackend], options: SlurmJobOptions, message: str
    ) -> None:
        with pytest.raises(SubmitFailed, match=message):
            await make_backend(options).submit(spec())


class TestOptions:
    def test_the_backend_setting_selects_slurm_with_the_local_layout(self, tmp_path: Path) -> None:
        settings = Settings(
            _env_file=None, BACKEND="slurm", WORK_ROOT=tmp_path, SLURM_PARTITION="long",
            SLURM_TIME_LIMIT="1-00:00:00",
        )  # fmt: skip

        backend = create_backend(settings)

        assert isinstance(backend, SlurmBackend)
        assert (backend.launch_root, backend.work_root) == (tmp_path / "runs", tmp_path / "work")
        assert backend.options.sbatch_args() == ["--partition=long", "--time=1-00:00:00"]

    def test_options_become_sbatch_flags(self) -> None:
        options = SlurmJobOptions(
            partition="long", account="lab", qos="high", time_limit="2-00:00:00",
            memory="8G", cpus=2, extra_args=("--exclusive", "--constraint=ssd"),
        )  # fmt: skip

        assert options.sbatch_args() == [
            "--partition=long", "--account=lab", "--qos=high", "--time=2-00:00:00",
            "--mem=8G", "--cpus-per-task=2", "--exclusive", "--constraint=ssd",
        ]  # fmt: skip

    @pytest.mark.parametrize(
        ("extra", "message"),
        [
            ("-p long", "one --name"),
            ("exclusive", "one --name"),
            ("--constraint=a b", "one --name"),
            ("--export=ALL", "sets this one itself"),
            ("--output=/tmp/x", "sets this one itself"),
            ("--wrap", "sets this one itself"),
        ],
    )
    def test_an_extra_option_that_is_no_long_flag_or_ours_is_refused(
        self, extra: str, message: str
    ) -> None:
        with pytest.raises(ValueError, match=message):
            SlurmJobOptions(extra_args=(extra,))


class TestPendingAndCancel:
    async def test_a_job_held_by_a_partition_limit_shows_slurms_reason(
        self, make_backend: Callable[..., SlurmBackend], slurm: SlurmCluster
    ) -> None:
        backend = make_backend(HELD)
        job = await backend.submit(spec())

        status = await wait_for(
            backend, job.handle, lambda s: "PartitionTimeLimit" in (s.detail or "")
        )

        assert status.state == JobState.PENDING
        assert status.detail == (
            f"Waiting in Slurm's queue (job {job.handle['job_id']}, PENDING): PartitionTimeLimit"
        )

        await backend.cancel(job.handle, force=False)
        gone = await wait_for(backend, job.handle, ended)

        assert gone.state == JobState.LOST
        assert "ended CANCELLED" in (gone.detail or "")
        assert "after nfhub asked to cancel it" in (gone.detail or "")
        assert slurm_state(slurm, job.handle["job_id"]) == "CANCELLED"
        assert await backend.list_active() == []

    async def test_sigterm_lets_nextflow_stop_and_the_launcher_record_it(
        self, backend: SlurmBackend, slurm: SlurmCluster
    ) -> None:
        job = await backend.submit(spec(task_seconds=30))
        console = Path(job.launch_dir or "") / "console.log"
        await wait_for(backend, job.handle, lambda s: s.state == JobState.RUNNING)
        await until(lambda: asyncio.to_thread(lambda: "Launching" in _text(console)))

        await backend.cancel(job.handle, force=False)
        status = await wait_for(backend, job.handle, ended)

        assert (status.state, status.exit_code) == (JobState.EXITED, 143)
        # Slurm records how the script ended, not that it was asked to stop (RECIPES).
        assert slurm_state(slurm, job.handle["job_id"]) == "FAILED"
        cancel = json.loads((Path(job.launch_dir or "") / "cancel.json").read_text())
        assert "signalled_at" in cancel and "forced_at" not in cancel

    async def test_a_forced_cancel_ends_the_job_in_slurm(
        self, backend: SlurmBackend, slurm: SlurmCluster
    ) -> None:
        job = await backend.submit(spec(task_seconds=30))
        await wait_for(backend, job.handle, lambda s: s.state == JobState.RUNNING)

        await backend.cancel(job.handle, force=True)
        status = await wait_for(backend, job.handle, ended)

        assert status.state in (JobState.EXITED, JobState.LOST)
        assert slurm_state(slurm, job.handle["job_id"]) == "CANCELLED"
        await backend.cancel(job.handle, force=True)  # already gone: nothing happens

    async def test_a_restarted_worker_finds_the_jobs_of_its_launch_root(
        self, make_backend: Callable[..., SlurmBackend], tmp_path: Path
    ) -> None:
        backend = make_backend(HELD)
        job = await backend.submit(spec())

        after_restart = await make_backend(HELD).list_active()
        other_root = tmp_path / "other"
        other = await make_backend(HELD, root=other_root).list_active()

        assert [(active.run_id, active.handle) for active in after_restart] == [
            (uuid.UUID(job.handle["run_id"]), job.handle)
        ]
        assert other == []
        await backend.cancel(job.handle, force=True)


class TestCheck:
    async def test_a_working_cluster_has_no_problems(self, backend: SlurmBackend) -> None:
        assert await backend.check() == []

    async def test_problems_are_named(
        self, make_backend: Callable[..., SlurmBackend], tmp_path: Path
    ) -> None:
        backend = make_backend(SlurmJobOptions(partition="gpu"), root=tmp_path / "missing")

        problems = await backend.check()

        assert problems == [
            "Slurm has no partition 'gpu'; it has debug, tiny",
            f"The launch folder {tmp_path / 'missing' / 'launch'} does not exist (or is not a "
            "folder); create it on the worker.",
            f"The work folder {tmp_path / 'missing' / 'work'} does not exist (or is not a "
            "folder); create it on the worker.",
        ]

    async def test_a_dead_controller_is_a_problem(
        self, backend: SlurmBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "dead").mkdir()
        monkeypatch.setenv("SLURM_CONF", str(dead_controller_conf(tmp_path / "dead")))

        problems = await backend.check()

        assert len(problems) == 1
        assert problems[0].startswith("sinfo does not answer: ")


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


class TestSecrets:
    async def test_the_value_reaches_the_head_jobs_task_and_leaves_no_trace(
        self, backend: SlurmBackend, tmp_path: Path, invocations: Path
    ) -> None:
        """The per-run store goes through the batch job as it does locally: named by
        NXF_SECRETS_FILE in the job's environment, removed when Nextflow ends."""
        value = f"slurm-s3cr3t-{uuid.uuid4().hex}"
        secretive = TESTS / "fakes" / "pipelines" / "secretive"
        launch = LaunchSpec(
            **{**spec().__dict__, "source": str(secretive), "secrets": {"GREETING": value}}
        )

        job = await backend.submit(launch)
        status = await wait_for(backend, job.handle, ended)

        assert (status.state, status.exit_code) == (JobState.EXITED, 0)
        found = await asyncio.to_thread(
            traces_of, value, Path(job.launch_dir or ""), Path(job.work_dir or ""), invocations
        )

        assert found["digests"] == [hashlib.sha256(value.encode()).hexdigest()]
        assert found["store_left"] is False
        assert found["files_holding_it"] == []
        assert found["in_command_lines"] is False


def traces_of(value: str, launch_dir: Path, work_dir: Path, invocations: Path) -> dict[str, Any]:
    """Where a secret's value ended up: the task's digest of it, and anywhere it should not."""
    needle = value.encode()
    return {
        "digests": [p.read_text().strip() for p in work_dir.rglob("greeting.sha256")],
        "store_left": (launch_dir / ".secrets").exists(),
        "files_holding_it": [
            path
            for folder in (launch_dir, work_dir)
            for path in folder.rglob("*")
            if path.is_file() and needle in path.read_bytes()
        ],
        "in_command_lines": value in invocations.read_text(),
    }
