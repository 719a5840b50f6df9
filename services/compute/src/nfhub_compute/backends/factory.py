from __future__ import annotations

from nfhub_compute.backends.base import JobBackend
from nfhub_compute.backends.local import LocalBackend
from nfhub_compute.backends.noop import NoopBackend
from nfhub_compute.config import Settings


def create_backend(settings: Settings) -> JobBackend:
    if settings.BACKEND == "noop":
        return NoopBackend()
    return LocalBackend(
        settings.WORK_ROOT,
        nextflow_bin=settings.NEXTFLOW_BIN,
        env=settings.LAUNCH_ENV,
        host=settings.WORKER_HOST,
    )
