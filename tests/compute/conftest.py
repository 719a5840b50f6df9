"""compute in-process, with admin and files in-process behind it (tests/support/inprocess.py)."""

from support.inprocess import (
    admin_settings,
    compute_app,
    compute_client,
    compute_settings,
    fake_nextflow_on_path,
    files_app,
    hello,
    launch,
    reconciler,
    register_pipeline,
    set_run,
    storage_root,
    team,
)
from support.slurm import slurm

__all__ = [
    "admin_settings",
    "compute_app",
    "compute_client",
    "compute_settings",
    "fake_nextflow_on_path",
    "files_app",
    "hello",
    "launch",
    "reconciler",
    "register_pipeline",
    "set_run",
    "slurm",
    "storage_root",
    "team",
]
