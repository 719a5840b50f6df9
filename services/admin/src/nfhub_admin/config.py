from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings


class OidcProviderSettings(BaseModel):
    """One OpenID provider; ``ADMIN_OIDC_PROVIDERS`` is a JSON list of these."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    display_name: str
    issuer: AnyHttpUrl
    client_id: str
    client_secret: SecretStr | None = None
    scopes: str = "openid email profile"
    # Where the provider's browser-facing pages live, when it differs from where admin reaches it.
    discovery_url: AnyHttpUrl | None = None


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="ADMIN_")

    SERVICE_NAME: str = "admin"

    JWT_PRIVATE_KEY: SecretStr | None = None
    JWT_PRIVATE_KEY_FILE: Path | None = None
    ACCESS_TOKEN_TTL_SECONDS: int = Field(default=900, ge=60, le=900)
    REFRESH_TOKEN_TTL_SECONDS: int = Field(default=7 * 24 * 3600, ge=300, le=30 * 24 * 3600)

    OIDC_PROVIDERS: list[OidcProviderSettings] = []
    OIDC_LOGIN_TTL_SECONDS: int = Field(default=600, ge=60, le=3600)
    OIDC_CREATE_USERS: bool = True
    # How long admin waits for a provider (discovery, keys, code exchange) before a 503.
    OIDC_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=60)
    FRONTEND_URL: AnyHttpUrl | None = None

    BOOTSTRAP_USERNAME: str | None = None
    BOOTSTRAP_PASSWORD: SecretStr | None = None
    BOOTSTRAP_EMAIL: str | None = None
    BOOTSTRAP_ORG: str = "default"
    # Usernames made platform admins at every start (the bootstrap user is one from its
    # creation): they alone may publish public pipelines. Removing a name does not take the
    # flag away; clear users.is_platform_admin for that.
    PLATFORM_ADMINS: list[str] = []

    ALLOW_ORG_CREATION: bool = True

    STORAGE_BACKEND: Literal["local", "s3"] = "local"
    STORAGE_BUCKET: str | None = None
    STORAGE_REGION: str | None = None
    STORAGE_ENDPOINT_URL: AnyHttpUrl | None = None
    STORAGE_LOCAL_ROOT: Path = Path(".nfhub/storage")
    # Short-lived, prefix-scoped S3 credentials for GET /projects/{id}/credentials (STS
    # AssumeRole with a session policy); unset = no credentials, signed URLs only.
    STORAGE_STS_ROLE_ARN: str | None = None
    STORAGE_STS_ENDPOINT_URL: AnyHttpUrl | None = None
    STORAGE_ACCESS_KEY_ID: str | None = None
    STORAGE_SECRET_ACCESS_KEY: SecretStr | None = None
    STORAGE_CREDENTIALS_TTL_SECONDS: int = Field(default=900, ge=900, le=43_200)

    def default_secrets(self) -> dict[str, bool]:
        missing_key = self.JWT_PRIVATE_KEY is None and self.JWT_PRIVATE_KEY_FILE is None
        return {**super().default_secrets(), "ADMIN_JWT_PRIVATE_KEY": missing_key}

    def admin_public_url(self) -> str:
        return str(self.PUBLIC_URL or self.ADMIN_URL).rstrip("/")
