from __future__ import annotations

import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.config import JsonDict

from nfhub_compute.compute_envs.config_text import MAX_CONFIG_BYTES, config_problems
from nfhub_shared.schemas import ReadSchema, Schema

NAME_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Set by nfhub for every launch: an environment may not change them.
RESERVED_ENV_VARS = frozenset({"NXF_ANSI_LOG", "NFHUB_EXIT_CODE"})
MAX_SCRIPT_BYTES = 64 * 1024
MAX_PATH_CHARS = 4096
# sbatch options an environment may add to the head job. Not: what nfhub sets itself
# (--job-name, --output, --chdir, --parsable, --wrap), nor what changes whose job it is or
# what it sees (--uid, --gid, --export, --get-user-env).
SBATCH_ALLOWED = frozenset({
    "--constraint", "--gres", "--exclusive", "--nodelist", "--exclude", "--reservation",
    "--licenses", "--mail-type", "--mail-user", "--nice", "--tmp", "--mem-per-cpu",
    "--cpus-per-task", "--ntasks", "--nodes", "--clusters", "--wckey", "--priority",
})  # fmt: skip
SLURM_WORD = r"^[A-Za-z0-9_.,:+-]{1,100}$"
SLURM_TIME = r"^(\d+-)?\d{1,3}(:\d{2}){0,2}$"
SLURM_MEMORY = r"^\d{1,9}[KMGT]?$"


class ComputeBackend(StrEnum):
    local = "local"
    slurm = "slurm"
    # kubernetes: a Job per run, later.


class ComputeEnvStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    INVALID = "INVALID"
    DISABLED = "DISABLED"


class TaskExecutor(Schema):
    """Where Nextflow sends the pipeline's own tasks (process.executor, process.queue)."""

    executor: Literal["local", "slurm"] = Field(description="process.executor")
    queue: str | None = Field(default=None, pattern=SLURM_WORD, description="process.queue")


class LocalOptions(Schema):
    task_executor: TaskExecutor | None = Field(
        default=None, description="Default: the tasks run on the head job's machine"
    )


class SlurmOptions(Schema):
    """The Slurm head job (the Nextflow launcher) and where its tasks go."""

    partition: str | None = Field(default=None, pattern=SLURM_WORD)
    account: str | None = Field(default=None, pattern=SLURM_WORD)
    qos: str | None = Field(default=None, pattern=SLURM_WORD)
    time_limit: str | None = Field(
        default=None, pattern=SLURM_TIME, description="[days-]hours:minutes:seconds"
    )
    memory: str | None = Field(default=None, pattern=SLURM_MEMORY, examples=["4G"])
    cpus: int | None = Field(default=None, ge=1, le=1024)
    extra_args: list[str] = Field(
        default_factory=list,
        max_length=20,
        description=f"More sbatch options, --name=value, from: {', '.join(sorted(SBATCH_ALLOWED))}",
    )
    task_executor: TaskExecutor | None = Field(
        default=None, description="Default: the tasks run in the head job's allocation"
    )

    @field_validator("extra_args")
    @classmethod
    def _allowed(cls, values: list[str]) -> list[str]:
        for value in values:
            name, _, argument = value.partition("=")
            if name not in SBATCH_ALLOWED:
                raise ValueError(
                    f"{name!r} is not an sbatch option an environment may set; allowed: "
                    f"{', '.join(sorted(SBATCH_ALLOWED))}"
                )
            if not re.fullmatch(r"[A-Za-z0-9_.,:@+=/-]*", argument):
                raise ValueError(f"the value of {name} has characters sbatch options never need")
        return values


BACKEND_OPTIONS: dict[ComputeBackend, type[LocalOptions | SlurmOptions]] = {
    ComputeBackend.local: LocalOptions,
    ComputeBackend.slurm: SlurmOptions,
}

EnvVars = Annotated[dict[str, Annotated[str, Field(max_length=4096)]], Field(max_length=100)]


# _absolute's rule as the documents show it (an absolute path, no '..' segment, no NUL): the
# validator enforces it with its own words, the pattern tells generated clients.
_SEGMENT = r"(?:[^/.\x00][^/\x00]*|\.(?:[^/.\x00][^/\x00]*)?|\.\.[^/\x00]+)?"
ABSOLUTE_PATH_SCHEMA: JsonDict = {"pattern": rf"^/{_SEGMENT}(?:/{_SEGMENT})*$"}


def _absolute(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith("/") or "\x00" in value:
        raise ValueError("must be an absolute path (starting with /) on the compute host")
    if any(part == ".." for part in value.split("/")):
        raise ValueError("must not contain '..'")
    return value.rstrip("/") or "/"


def _config(value: str | None) -> str | None:
    if value is None:
        return None
    problems = config_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _env_vars(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return None
    for name in value:
        if not ENV_VAR_NAME.match(name):
            raise ValueError(
                f"{name[:130]!r} is not a variable name (letters, digits and _, not first a digit)"
            )
        if name in RESERVED_ENV_VARS:
            raise ValueError(f"{name} is set by nfhub for every launch")
    return value


class _EnvFields(Schema):
    """What create and update share: checks of the paths, config and variables."""

    @field_validator("work_dir", "launch_dir", check_fields=False)
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return _absolute(value)

    @field_validator("nextflow_config", check_fields=False)
    @classmethod
    def _nextflow_config(cls, value: str | None) -> str | None:
        return _config(value)

    @field_validator("env_vars", check_fields=False)
    @classmethod
    def _names(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return _env_vars(value)


class ComputeEnvCreate(_EnvFields):
    name: str = Field(pattern=NAME_PATTERN, description="Unique in the org", examples=["hpc"])
    description: str | None = Field(default=None, max_length=2000)
    backend: ComputeBackend
    work_dir: str = Field(
        max_length=MAX_PATH_CHARS,
        description="Absolute; each run's work dir is <work_dir>/<run>",
        json_schema_extra=ABSOLUTE_PATH_SCHEMA,
    )
    launch_dir: str = Field(
        max_length=MAX_PATH_CHARS,
        description="Absolute; each run's launch dir (Nextflow's cwd) is <launch_dir>/<run>",
        json_schema_extra=ABSOLUTE_PATH_SCHEMA,
    )
    nextflow_config: str | None = Field(
        default=None,
        max_length=MAX_CONFIG_BYTES,
        description="Nextflow config added to every run's (not the weblog: nfhub's)",
    )
    pre_run_script: str | None = Field(default=None, max_length=MAX_SCRIPT_BYTES)
    post_run_script: str | None = Field(default=None, max_length=MAX_SCRIPT_BYTES)
    env_vars: EnvVars = Field(default_factory=dict, description="Plain, not secret")
    backend_options: dict[str, Any] = Field(
        default_factory=dict, description="LocalOptions or SlurmOptions, by backend"
    )
    max_active_runs: int = Field(default=8, ge=1, le=10_000)
    is_primary: bool = Field(default=False, description="The org's default for launches")


class ComputeEnvUpdate(_EnvFields):
    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=2000)
    work_dir: str | None = Field(
        default=None, max_length=MAX_PATH_CHARS, json_schema_extra=ABSOLUTE_PATH_SCHEMA
    )
    launch_dir: str | None = Field(
        default=None, max_length=MAX_PATH_CHARS, json_schema_extra=ABSOLUTE_PATH_SCHEMA
    )
    nextflow_config: str | None = Field(default=None, max_length=MAX_CONFIG_BYTES)
    pre_run_script: str | None = Field(default=None, max_length=MAX_SCRIPT_BYTES)
    post_run_script: str | None = Field(default=None, max_length=MAX_SCRIPT_BYTES)
    env_vars: EnvVars | None = None
    backend_options: dict[str, Any] | None = None
    max_active_runs: int | None = Field(default=None, ge=1, le=10_000)
    status: Literal["AVAILABLE", "DISABLED"] | None = Field(
        default=None,
        description="DISABLED refuses new runs; AVAILABLE enables it again (an INVALID "
        "environment becomes AVAILABLE by passing validate)",
    )


class ComputeEnvRead(ReadSchema):
    id: uuid.UUID
    name: str
    description: str | None = None
    backend: ComputeBackend
    work_dir: str
    launch_dir: str
    nextflow_config: str | None = None
    pre_run_script: str | None = None
    post_run_script: str | None = None
    env_vars: dict[str, str]
    backend_options: dict[str, Any]
    max_active_runs: int
    status: ComputeEnvStatus
    status_reason: str | None = Field(default=None, description="Why, when not AVAILABLE")
    validated_at: datetime | None = None
    is_primary: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
