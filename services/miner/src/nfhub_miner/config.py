from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.sealing import parse_key
from nfhub_shared.webhooks.settings import WebhookSettings

# 32 bytes, URL-safe base64: refused outside dev.
DEV_WEBHOOK_SECRETS_KEY = "bmZodWIgbWluZXIgZGV2IHdlYmhvb2sga2V5LCBub3Q="


class Settings(BaseServiceSettings, WebhookSettings):
    # hide_input_in_errors: a refused setting (a mistyped key) is never printed.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_prefix="MINER_", hide_input_in_errors=True
    )

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

    # Encrypts the signing secrets of webhooks at rest (AES-256-GCM): 32 random bytes, as 64
    # hex digits (openssl rand -hex 32) or URL-safe base64. Earlier keys, still read while
    # webhooks made under them remain (a JSON list), in WEBHOOK_SECRETS_OLD_KEYS.
    WEBHOOK_SECRETS_KEY: SecretStr = SecretStr(DEV_WEBHOOK_SECRETS_KEY)
    WEBHOOK_SECRETS_OLD_KEYS: list[SecretStr] = Field(default_factory=list)
    # Run the webhook delivery loop in this process (every miner process may: claims never
    # overlap). Off in tests that drive it by hand.
    WEBHOOK_DELIVERIES: bool = True

    @field_validator("WEBHOOK_SECRETS_KEY")
    @classmethod
    def _webhook_key(cls, key: SecretStr) -> SecretStr:
        parse_key(key.get_secret_value())
        return key

    @field_validator("WEBHOOK_SECRETS_OLD_KEYS")
    @classmethod
    def _old_webhook_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            parse_key(key.get_secret_value())
        return keys

    def default_secrets(self) -> dict[str, bool]:
        return {
            **super().default_secrets(),
            "MINER_WEBHOOK_SECRETS_KEY": (
                self.WEBHOOK_SECRETS_KEY.get_secret_value() == DEV_WEBHOOK_SECRETS_KEY
            ),
        }
