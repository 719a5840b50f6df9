"""Which job backend runs a run: the worker's own (COMPUTE_BACKEND) or its compute environment's."""

from __future__ import annotations

from pathlib import Path

from nfhub_compute.backends.base import JobBackend, SubmitFailed
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.backends.slurm import SlurmBackend, SlurmJobOptions
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeEnv

# The backends whose jobs only the host that started them reaches (runs.backend names): their
# runs belong to the worker host that claimed them (runs.owner_host), whether they run in a
# compute environment or on a worker's own backend. Slurm's runs are any worker's.
HOST_BOUND_BACKENDS: tuple[str, ...] = tuple(
    backend.name
    for backend in (LocalBackend, NoopBackend, SlurmBackend)
    if not backend.host_independent
)


class BackendNotBuilt(SubmitFailed):
    """The environment names a backend this build of nfhub cannot construct."""


def create_backend(settings: Settings) -> JobBackend:
    """The backend of runs without a compute environment (launched before there were any)."""
    if settings.BACKEND == "noop":
        return NoopBackend()
    if settings.BACKEND == "slurm":
        # The local backend's layout: launch dirs in runs/, work dirs in work/.
        return SlurmBackend(
            launch_root=settings.WORK_ROOT / "runs",
            work_root=settings.WORK_ROOT / "work",
            nextflow_bin=settings.NEXTFLOW_BIN,
            env=settings.LAUNCH_ENV,
            options=SlurmJobOptions(
                partition=settings.SLURM_PARTITION, time_limit=settings.SLURM_TIME_LIMIT
            ),
        )
    return LocalBackend(
        settings.WORK_ROOT,
        nextflow_bin=settings.NEXTFLOW_BIN,
        env=settings.LAUNCH_ENV,
        host=settings.WORKER_HOST,
    )


def backend_for(settings: Settings, env: ComputeEnv) -> JobBackend:
    """The backend of one compute environment: its folders, its environment variables over
    COMPUTE_LAUNCH_ENV, its options. Raises BackendNotBuilt for a backend not in this build."""
    launch_env = {**settings.LAUNCH_ENV, **env.env_vars}
    if env.backend == "local":
        return LocalBackend(
            Path(env.work_dir),
            launch_root=Path(env.launch_dir),
            nextflow_bin=settings.NEXTFLOW_BIN,
            env=launch_env,
            host=settings.WORKER_HOST,
        )
    if env.backend == "slurm":
        return _slurm_backend(settings, env, launch_env)
    raise BackendNotBuilt(f"The {env.backend} backend is not part of this build of nfhub.")


def _slurm_backend(settings: Settings, env: ComputeEnv, launch_env: dict[str, str]) -> JobBackend:
    return SlurmBackend(
        launch_root=Path(env.launch_dir),
        work_root=Path(env.work_dir),
        nextflow_bin=settings.NEXTFLOW_BIN,
        env=launch_env,
        options=head_job_options(env.backend_options),
    )


def head_job_options(options: dict[str, object]) -> SlurmJobOptions:
    """The environment's stored Slurm options (validated by its schema when written) as the
    head job's sbatch options."""

    def text(name: str) -> str | None:
        value = options.get(name)
        return str(value) if value is not None else None

    cpus = options.get("cpus")
    extra = options.get("extra_args")
    return SlurmJobOptions(
        partition=text("partition"),
        account=text("account"),
        qos=text("qos"),
        time_limit=text("time_limit"),
        memory=text("memory"),
        cpus=int(cpus) if isinstance(cpus, int | str) else None,
        extra_args=tuple(str(arg) for arg in extra) if isinstance(extra, list) else (),
    )
