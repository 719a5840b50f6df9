"""How a run becomes a ``nextflow run``: its name, its parameters, what the backend is given.

The API records runs and the worker's dispatcher launches them; both read this.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from nfhub_compute.backends.base import LaunchSpec, TowerReport
from nfhub_compute.config import Settings
from nfhub_compute.models import ComputeEnv, PipelineVersion, Run
from nfhub_compute.runs.weblog import tower_endpoint, tower_run_token, weblog_url


def nextflow_name(run_id: uuid.UUID) -> str:
    """Unique and valid for -name (lower case, starts with a letter)."""
    return f"nfhub-{run_id.hex}"


def nextflow_path(uri: str) -> str:
    """What Nextflow is given for a storage URI: a plain path for file://, else the URI."""
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def effective_params(run: Run, version: PipelineVersion) -> dict[str, Any]:
    """The version's defaults, the caller's parameters, then the input and outdir nfhub sets."""
    params = {**version.default_params, **run.params}
    if run.input_uri is not None:
        params["input"] = nextflow_path(run.input_uri)
    params["outdir"] = nextflow_path(run.outdir_uri)
    return params


def _groovy(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def env_config(env: ComputeEnv) -> str | None:
    """The environment's Nextflow config: where its tasks go (backend_options.task_executor,
    as process.executor and process.queue), then its own text."""
    parts = []
    executor = env.backend_options.get("task_executor")
    if isinstance(executor, dict) and executor.get("executor"):
        parts.append(f"process.executor = {_groovy(str(executor['executor']))}")
        if executor.get("queue"):
            parts.append(f"process.queue = {_groovy(str(executor['queue']))}")
    if env.nextflow_config:
        parts.append(env.nextflow_config.rstrip())
    return "\n".join(parts) if parts else None


def launch_spec(
    run: Run,
    version: PipelineVersion,
    settings: Settings,
    resume_launch_dir: str | None,
    secrets: Mapping[str, str] | None = None,
    env: ComputeEnv | None = None,
) -> LaunchSpec:
    return LaunchSpec(
        run_id=run.id,
        nextflow_name=run.nextflow_name,
        source=version.source_url or version.source_path or "",
        revision=version.revision,
        params=effective_params(run, version),
        profiles=list(run.profiles),
        weblog_url=weblog_url(settings, run.id),
        work_dir=run.work_dir,
        resume_session_id=run.session_id if run.resume else None,
        resume_launch_dir=resume_launch_dir,
        secrets=dict(secrets or {}),
        extra_config=env_config(env) if env is not None else None,
        pre_run_script=env.pre_run_script if env is not None else None,
        post_run_script=env.post_run_script if env is not None else None,
        tower=(
            TowerReport(
                endpoint=tower_endpoint(settings),
                workflow_id=run.tower_workflow_id,
                access_token=tower_run_token(settings, run.id),
            )
            if run.channel == "tower" and run.tower_workflow_id
            else None
        ),
    )
