from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.sealing import NEW_KEY_HINT, parse_key
from nfhub_shared.webhooks.settings import WebhookSettings

DEV_WEBLOG_SECRET = "dev-compute-weblog-secret-change-me-not-for-production"  # noqa: S105 - refused outside dev
# 32 bytes, URL-safe base64: refused outside dev.
DEV_SECRETS_KEY = "bmZodWIgZGV2IHNlY3JldHMga2V5LCBub3QgcHJvZCE="


class Settings(BaseServiceSettings, WebhookSettings):
    # hide_input_in_errors: a refused setting (a mistyped secrets key) is never printed.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_prefix="COMPUTE_", hide_input_in_errors=True
    )

    SERVICE_NAME: str = "compute"

    # Where Nextflow (on the executor) reaches this service to post its weblog events, and
    # where other services reach the files service for inputs and outputs.
    COMPUTE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    FILES_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8003")

    # Keys the per-run secrets in Nextflow's -with-weblog URLs (HMAC of the run id).
    WEBLOG_SECRET: SecretStr = SecretStr(DEV_WEBLOG_SECRET)

    # How runs nfhub launches report back: Nextflow's weblog (-with-weblog, the URL carrying
    # the run's secret) or the Tower trace protocol (-with-tower, with a per-run token in the
    # job's TOWER_ACCESS_TOKEN). Externally started runs always use Tower.
    PROGRESS_CHANNEL: Literal["weblog", "tower"] = "weblog"

    # Encrypts pipeline secrets at rest (AES-256-GCM). To rotate: move the current key to
    # SECRETS_OLD_KEYS, set a new SECRETS_KEY, run `python -m nfhub_compute.secrets.rotate`
    # (re-encrypts every secret with SECRETS_KEY), then drop the old key.
    SECRETS_KEY: SecretStr = SecretStr(DEV_SECRETS_KEY)
    # Earlier keys, still accepted for decryption while a rotation is under way (a JSON list).
    SECRETS_OLD_KEYS: list[SecretStr] = Field(default_factory=list)

    # Connections for Nextflow's weblog events (a pool of their own, beside DATABASE_POOL_SIZE).
    # Weblog events go through one writer per process that commits many requests' events at
    # once (EVENTS_WRITERS connections at most).
    EVENTS_POOL_SIZE: int = Field(default=10, ge=1)
    # Events one transaction of the weblog writer takes at most, and how many may wait for it
    # before a request gets 503 + Retry-After (memory stays bounded).
    EVENTS_BATCH_MAX: int = Field(default=1000, ge=1, le=100_000)
    EVENTS_QUEUE_MAX: int = Field(default=20_000, ge=1)
    # Batches the writer has in flight at once (each on its own connection of the pool).
    EVENTS_WRITERS: int = Field(default=2, ge=1, le=16)
    # Connections for hot single-statement reads (WES's status and run list).
    READS_POOL_SIZE: int = Field(default=10, ge=1)

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

    BACKEND: Literal["local", "noop", "slurm"] = "local"
    NEXTFLOW_BIN: str = "nextflow"
    # Launch and work folders of the local backend: runs/<id>/ (launch dir), work/<id>/.
    WORK_ROOT: Path = Path(".nfhub/compute")
    # Extra environment for every launch (NXF_HOME, proxies…), as a JSON object.
    LAUNCH_ENV: dict[str, str] = Field(default_factory=dict)
    MAX_ACTIVE_RUNS: int = Field(default=8, ge=1)
    # The Slurm backend's head job (COMPUTE_BACKEND=slurm): sbatch's --partition and --time.
    # WORK_ROOT must then be on a filesystem the cluster's nodes share.
    SLURM_PARTITION: str | None = None
    SLURM_TIME_LIMIT: str | None = None

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
    # A task's files (.command.out/.err/.log/.sh) shipped by the worker: at most this many bytes
    # of each (head and tail, the middle cut), and at most TASK_LOG_AUTO_TASKS failed tasks of
    # a run shipped on their own (others when asked, through the API).
    TASK_LOG_MAX_BYTES: int = Field(default=1024**2, ge=1024, le=64 * 1024**2)
    TASK_LOG_AUTO_TASKS: int = Field(default=50, ge=0)

    # Live event streams (GET /runs/{id}/stream, /runs/stream): a comment line this often keeps
    # proxies from closing an idle stream; a subscriber more than STREAM_BUFFER_EVENTS behind
    # stops being fed from memory and catches up from the database; the worker prunes the
    # feed's rows after STREAM_RETENTION_HOURS (a client resuming from an older id gets a 400).
    STREAM_HEARTBEAT_SECONDS: float = Field(default=15.0, gt=0, le=300)
    STREAM_BUFFER_EVENTS: int = Field(default=1000, ge=10)
    STREAM_RETENTION_HOURS: float = Field(default=72.0, gt=0)
    # A run's own stream ends this long after the event of its final state: the worker ships
    # the last log lines (Nextflow's closing summary) just after moving the run, a beat
    # later, and a client should not need to reconnect for them; short, as each stream of an
    # ended run stays open that long for nothing.
    STREAM_END_GRACE_SECONDS: float = Field(default=2.0, ge=0, le=30)
    # GET /runs/{id}/metrics of a run still running answers with the summaries computed at
    # most MAX_AGE ago (their computed_at). Older, but not older than STALE_MAX, they are
    # answered as they are while the worker computes them anew (a large run's cost a sort per
    # series of all its tasks, bench/metrics.py); older still (no worker computed them), the
    # request computes them. An ended run's are computed once and kept until a task of the
    # run changes.
    RUNNING_METRICS_MAX_AGE_SECONDS: float = Field(default=10.0, ge=0, le=3600)
    RUNNING_METRICS_STALE_MAX_SECONDS: float = Field(default=60.0, ge=0, le=86400)
    # GA4GH WES (/ga4gh/wes/v1). Attached files (workflow_attachment) are refused unless this
    # is on; then they go to the project's storage, wes/<run id>/<file name>, and a
    # workflow_params value naming one of them is that path.
    WES_ALLOW_ATTACHMENTS: bool = False
    # What service-info offers and POST /runs accepts: Nextflow DSL versions (workflow type
    # NFL) and Nextflow versions (workflow_engine_version).
    WES_DSL_VERSIONS: list[str] = Field(default_factory=lambda: ["DSL2"], min_length=1)
    WES_NEXTFLOW_VERSIONS: list[str] = Field(default_factory=lambda: ["25.10.7"], min_length=1)
    # service-info's auth_instructions_url (default: this service's /docs) and organization.
    WES_AUTH_INSTRUCTIONS_URL: str | None = None
    WES_ORG_URL: str = "https://nfhub.dev"

    @field_validator("PIPELINE_ROOTS")
    @classmethod
    def _resolve_roots(cls, roots: list[Path]) -> list[Path]:
        return [root.expanduser().resolve() for root in roots]

    @field_validator("SECRETS_KEY")
    @classmethod
    def _secrets_key(cls, key: SecretStr) -> SecretStr:
        check_secrets_key(key.get_secret_value())
        return key

    @field_validator("SECRETS_OLD_KEYS")
    @classmethod
    def _old_secrets_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            check_secrets_key(key.get_secret_value())
        return keys

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
            "COMPUTE_SECRETS_KEY": self.SECRETS_KEY.get_secret_value() == DEV_SECRETS_KEY,
        }


def check_secrets_key(key: str) -> bytes:
    """The 32 bytes of a secrets key (hex or URL-safe base64); ValueError, never showing the
    key, otherwise."""
    try:
        return parse_key(key)
    except ValueError:
        raise ValueError(f"not a secrets key: {NEW_KEY_HINT}") from None
