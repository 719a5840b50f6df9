"""Settings shared by every service.

Each service subclasses `BaseServiceSettings` with its own env prefix (``ADMIN_``, ``FILES_``…).
Stack-wide variables (``DATABASE_URL``, ``SERVICE_SECRET``…) may also be given without the prefix,
so one ``.env`` configures the whole stack while ``ADMIN_DATABASE_URL`` still wins for one service.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

# At least 32 bytes: HS256 with a shorter key makes PyJWT warn on every service token.
DEV_SERVICE_SECRET = "dev-service-secret-change-me-not-for-production"  # noqa: S105 - refused outside dev

MIN_SERVICE_SECRET_BYTES = 32

Environment = Literal["dev", "test", "production"]


class BaseServiceSettings(BaseSettings):
    # hide_input_in_errors: a refused setting (a short secret) is named, never printed; the
    # services' own model_config inherits it.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_prefix="NFHUB_", hide_input_in_errors=True
    )

    SERVICE_NAME: str = "nfhub"
    ENVIRONMENT: Environment = "dev"
    LOG_LEVEL: str = "INFO"
    LOG_JSON: bool = True
    # FastAPI's own OpenTelemetry spans, metrics and logs, for a process whose OpenTelemetry
    # SDK is set up (opentelemetry-instrument, say). Off, requests skip its provider checks.
    OPENTELEMETRY: bool = False

    DATABASE_URL: SecretStr = SecretStr("postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    DATABASE_POOL_SIZE: int = Field(default=10, ge=1)
    DATABASE_MAX_OVERFLOW: int = Field(default=10, ge=0)
    # How long a request waits for a free connection before it is answered 503 (SQLAlchemy's
    # default, 30 s, holds clients long after the answer has stopped being useful).
    DATABASE_POOL_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=60)
    DATABASE_STATEMENT_TIMEOUT_MS: int = Field(default=30_000, ge=0)

    ADMIN_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8001")
    PUBLIC_URL: AnyHttpUrl | None = None
    ROOT_PATH: str = ""

    SERVICE_SECRET: SecretStr = SecretStr(DEV_SERVICE_SECRET)
    JWT_ISSUER: str = "nfhub-admin"
    JWT_AUDIENCE: str = "nfhub"
    JWT_LEEWAY_SECONDS: int = Field(default=10, ge=0, le=120)
    JWKS_REFRESH_COOLDOWN_SECONDS: float = Field(default=5.0, ge=0)
    TOKEN_CACHE_TTL_SECONDS: float = Field(default=60.0, ge=0, le=60)
    ROLE_CACHE_TTL_SECONDS: float = Field(default=60.0, ge=0, le=60)
    # Hear admin's announcements of access changes (LISTEN nfhub_access) and drop cached
    # identity answers at once; without it the TTLs above are the only bound.
    ACCESS_CHANGE_LISTENER: bool = True

    REDIS_URL: SecretStr | None = None
    RATE_LIMIT_ENABLED: bool = True
    RATE_LIMIT_WINDOW_SECONDS: int = Field(default=60, ge=1)
    RATE_LIMIT_READ: int = Field(default=1200, ge=1)
    RATE_LIMIT_WRITE: int = Field(default=300, ge=1)
    RATE_LIMIT_AUTH: int = Field(default=30, ge=1)
    # Failed logins per username and window, from any address (then 429 for that username).
    RATE_LIMIT_LOGIN_FAILURES: int = Field(default=10, ge=1)

    MAX_REQUEST_BODY_BYTES: int = Field(default=1_048_576, ge=1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        unprefixed = EnvSettingsSource(settings_cls, env_prefix="")
        return init_settings, env_settings, unprefixed, dotenv_settings, file_secret_settings

    @field_validator("SERVICE_SECRET")
    @classmethod
    def _service_secret_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SERVICE_SECRET_BYTES:
            raise ValueError(
                f"SERVICE_SECRET needs at least {MIN_SERVICE_SECRET_BYTES} bytes (it keys HS256)"
            )
        return value

    @model_validator(mode="after")
    def _refuse_default_secrets_outside_dev(self) -> BaseServiceSettings:
        if self.ENVIRONMENT == "production":
            for name, value in self.default_secrets().items():
                if value:
                    raise ValueError(
                        f"{name} still has its development default; set a real secret "
                        f"before running with ENVIRONMENT=production"
                    )
        return self

    def default_secrets(self) -> dict[str, bool]:
        """Which secrets still hold a development default (subclasses add theirs)."""
        return {"SERVICE_SECRET": self.SERVICE_SECRET.get_secret_value() == DEV_SERVICE_SECRET}

    @property
    def database_url(self) -> str:
        return normalise_database_url(self.DATABASE_URL.get_secret_value())

    def rate_limit(self, category: str) -> int:
        """Requests per window of a category: read, write or auth."""
        if category == "read":
            return self.RATE_LIMIT_READ
        return self.RATE_LIMIT_AUTH if category == "auth" else self.RATE_LIMIT_WRITE


def normalise_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs (as printed by pgserver or libpq users) for asyncpg."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url
