from __future__ import annotations

from pydantic import AnyHttpUrl, Field
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="MINER_")

    SERVICE_NAME: str = "miner"

    # Where miner reaches the other services (by configuration, never by their code).
    FILES_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8003")
    COMPUTE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")

    # Largest samplesheet or JSON-lines body POST /samples/import accepts.
    IMPORT_MAX_BYTES: int = Field(default=20 * 1024**2, ge=1024)
    IMPORT_MAX_ROWS: int = Field(default=100_000, ge=1)
    # Largest `properties` object of a subject or sample, serialised.
    MAX_PROPERTIES_BYTES: int = Field(default=64 * 1024, ge=256)
    # Largest order (samples in it).
    MAX_ORDER_SAMPLES: int = Field(default=50_000, ge=1)
    # Follow the runs of orders: hear compute's announcements of their ends (LISTEN), and sweep
    # for those missed at start, on reconnect and every RUN_SWEEP_SECONDS.
    RUN_FOLLOWER: bool = True
    RUN_SWEEP_SECONDS: float = Field(default=60.0, ge=1.0, le=3600.0)
