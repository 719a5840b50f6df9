from __future__ import annotations

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.backends.slurm import SlurmBackend, SlurmJobOptions
from nfhub_compute.config import Settings


def create_backend(settings: Settings) -> JobBackend:
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
        settings.WORK_ROOT, nextflow_bin=settings.NEXTFLOW_BIN, env=settings.LAUNCH_ENV
    )
