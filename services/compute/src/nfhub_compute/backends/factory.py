"""Which job backend runs a run: the worker's own (COMPUTE_BACKEND) or its compute environment's."""

from __future__ import annotations

from pathlib import Path

from nfhub_compute.backends.base import JobBackend, SubmitFailed
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeEnv


class BackendNotBuilt(SubmitFailed):
    """The environment names a backend this build of nfhub cannot construct."""


def create_backend(settings: Settings) -> JobBackend:
    """The backend of runs without a compute environment (launched before there were any)."""
    if settings.BACKEND == "noop":
        return NoopBackend()
    return LocalBackend(
        settings.WORK_ROOT, nextflow_bin=settings.NEXTFLOW_BIN, env=settings.LAUNCH_ENV
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
        )
    if env.backend == "slurm":
        return _slurm_backend(settings, env, launch_env)
    raise BackendNotBuilt(f"The {env.backend} backend is not part of this build of nfhub.")


def _slurm_backend(settings: Settings, env: ComputeEnv, launch_env: dict[str, str]) -> JobBackend:
    # The one place the Slurm backend is constructed, once backends/slurm.py is here:
    #   SlurmBackend(launch_root=Path(env.launch_dir), work_root=Path(env.work_dir),
    #                nextflow_bin=settings.NEXTFLOW_BIN, env=launch_env,
    #                options=SlurmJobOptions(**head_job_options(env.backend_options)))
    raise BackendNotBuilt(
        f"Compute environment {env.name!r} uses the slurm backend, which is not part of this "
        f"build of nfhub yet; use a local environment."
    )


HEAD_JOB_OPTIONS = ("partition", "account", "qos", "time_limit", "memory", "cpus")


def head_job_options(options: dict[str, object]) -> dict[str, object]:
    """The stored Slurm options as SlurmJobOptions takes them (extra_args a tuple)."""
    chosen: dict[str, object] = {name: options.get(name) for name in HEAD_JOB_OPTIONS}
    extra = options.get("extra_args") or []
    chosen["extra_args"] = tuple(str(arg) for arg in extra) if isinstance(extra, list) else ()
    return chosen
