from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings

DEV_WEBLOG_SECRET = "dev-compute-weblog-secret-change-me-not-for-production"  # noqa: S105 - refused outside dev


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="COMPUTE_")

    SERVICE_NAME: str = "compute"

    # Where Nextflow (on the executor) reaches this service to post its weblog events, and
    # where other services reach the files service for inputs and outputs.
    COMPUTE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    FILES_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8003")

    # Keys the per-run secrets in Nextflow's -with-weblog URLs (HMAC of the run id).
    WEBLOG_SECRET: SecretStr = SecretStr(DEV_WEBLOG_SECRET)

    # Connections for Nextflow's weblog events (a pool of their own, beside DATABASE_POOL_SIZE).
    EVENTS_POOL_SIZE: int = Field(default=10, ge=1)

    # A YAML file of pipelines registered (and kept up to date) at start-up.
    CATALOG_FILE: Path | None = None
    # Local pipeline sources (source.path) must lie inside one of these folders: a version
    # pointing anywhere else on the server's disk is refused.
    PIPELINE_ROOTS: list[Path] = Field(default_factory=list)
    MAX_SCHEMA_BYTES: int = Field(default=2 * 1024**2, ge=1024)
    # A git source must answer `git ls-remote` (and have the revision) before it is registered;
    # air-gapped sites whose compute host cannot reach the git server turn this off.
    PIPELINE_SOURCE_CHECK: bool = True
    PIPELINE_SOURCE_CHECK_SECONDS: float = Field(default=20.0, gt=0)

    BACKEND: Literal["local", "noop"] = "local"
    NEXTFLOW_BIN: str = "nextflow"
    # Launch and work folders of the local backend: runs/<id>/ (launch dir), work/<id>/.
    WORK_ROOT: Path = Path(".nfhub/compute")
    # Extra environment for every launch (NXF_HOME, proxies…), as a JSON object.
    LAUNCH_ENV: dict[str, str] = Field(default_factory=dict)
    MAX_ACTIVE_RUNS: int = Field(default=8, ge=1)

    CANCEL_GRACE_SECONDS: float = Field(default=30.0, ge=0)
    # A RUNNING run with neither an event nor a positive answer from the backend for this
    # long becomes UNKNOWN.
    SILENCE_DEADLINE_SECONDS: float = Field(default=900.0, gt=0)
    # A claimed run whose submission was never recorded (its dispatcher died) is submitted
    # again, idempotently, after this long.
    SUBMIT_RECOVERY_SECONDS: float = Field(default=60.0, gt=0)
    DISPATCH_POLL_SECONDS: float = Field(default=2.0, gt=0)
    RECONCILE_INTERVAL_SECONDS: float = Field(default=2.0, gt=0)

    # Workers on many hosts. A local run belongs to the host identity of the worker that
    # claimed it: only a worker of that identity watches, cancels and finishes it. Each worker
    # heartbeats in the database; a host with no heartbeat for WORKER_DEADLINE_SECONDS has its
    # running runs marked UNKNOWN (until a worker of that host comes back and finishes them).
    WORKER_HOST: str = Field(default_factory=socket.gethostname, min_length=1, max_length=100)
    WORKER_HEARTBEAT_SECONDS: float = Field(default=10.0, gt=0)
    WORKER_DEADLINE_SECONDS: float = Field(default=60.0, gt=0)
    # The worker ships each run's logs to the database as they grow, for the API to read
    # without the launch folder; beyond this many bytes per log, the rest stays on the host.
    LOG_MAX_BYTES: int = Field(default=5 * 1024**2, ge=1024)

    @field_validator("PIPELINE_ROOTS")
    @classmethod
    def _resolve_roots(cls, roots: list[Path]) -> list[Path]:
        return [root.expanduser().resolve() for root in roots]

    @model_validator(mode="after")
    def _deadline_after_heartbeats(self) -> Settings:
        if self.WORKER_DEADLINE_SECONDS <= 2 * self.WORKER_HEARTBEAT_SECONDS:
            raise ValueError(
                "COMPUTE_WORKER_DEADLINE_SECONDS must be more than twice "
                "COMPUTE_WORKER_HEARTBEAT_SECONDS, or a worker one beat late is taken for gone"
            )
        return self

    def default_secrets(self) -> dict[str, bool]:
        return {
            **super().default_secrets(),
            "COMPUTE_WEBLOG_SECRET": self.WEBLOG_SECRET.get_secret_value() == DEV_WEBLOG_SECRET,
        }
