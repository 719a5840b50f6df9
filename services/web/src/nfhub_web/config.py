from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings
from nfhub_shared.sealing import parse_key

# 32 bytes, URL-safe base64: refused outside dev.
DEV_SESSION_KEY = "bmZodWIgd2ViIGRldiBzZXNzaW9uIGtleSwgbm90ISE="


class Settings(BaseServiceSettings):
    # hide_input_in_errors: a refused setting (a mistyped key) is never printed.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", env_prefix="WEB_", hide_input_in_errors=True
    )

    SERVICE_NAME: str = "web"

    # Where web reaches the APIs it renders (admin's is ADMIN_URL, shared by every service).
    COMPUTE_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8002")
    FILES_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8003")
    MINER_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8004")
    # Where browsers reach the files service's signed URLs (its FILES_URL; for S3 storage, the
    # S3 endpoint): pages upload to it straight from the browser, so the Content-Security-Policy
    # lets scripts connect there. FILES_URL when unset. The files service must list web's own
    # origin in its FILES_CORS_ORIGINS.
    FILES_PUBLIC_URL: AnyHttpUrl | None = None
    # Files larger than this go up in parts of this size (the files API's multipart uploads;
    # larger parts when a file would need more than 10,000), and resume after a page reload
    # from the last part the store holds; smaller files in one PUT. At least S3's 5 MiB.
    UPLOAD_MULTIPART_BYTES: int = Field(default=8 * 1024**2, ge=5 * 1024**2)
    API_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=120)
    # Where browsers reach admin, for OpenID Connect logins (they start at admin); ADMIN_URL
    # when unset. admin's ADMIN_FRONTEND_URL must be web's own URL for the login to come back.
    ADMIN_PUBLIC_URL: AnyHttpUrl | None = None

    # Encrypts the refresh and access tokens kept in the session table (AES-256-GCM): 32 random
    # bytes, as 64 hex digits (openssl rand -hex 32) or URL-safe base64. Earlier keys, still
    # read while sessions sealed under them live (a JSON list), in SESSION_OLD_KEYS.
    SESSION_KEY: SecretStr = SecretStr(DEV_SESSION_KEY)
    SESSION_OLD_KEYS: list[SecretStr] = Field(default_factory=list)
    # A session ends after this long without a request (its refresh token lives on at admin
    # until it expires or is revoked; logout revokes it).
    SESSION_IDLE_SECONDS: int = Field(default=8 * 3600, ge=60)
    # The access token is refreshed this long before it expires, so an API call never carries
    # one that runs out on the way.
    ACCESS_REFRESH_MARGIN_SECONDS: int = Field(default=30, ge=0, le=300)
    # Secure cookies (``__Host-`` prefixed): off only for plain-HTTP development
    # (``make run HTTP=1``), where a browser would drop a Secure cookie.
    COOKIE_SECURE: bool = True
    # How often pages with live parts (runs not finished yet) ask for fresh state.
    POLL_SECONDS: float = Field(default=3.0, ge=0.5, le=60)
    # The largest samplesheet the import form takes (miner has its own limit, by default the
    # same): a larger upload is refused before web holds it in memory.
    IMPORT_MAX_BYTES: int = Field(default=20 * 1024**2, ge=1024, le=1024**3)

    @property
    def files_origin(self) -> str:
        url = urlsplit(str(self.FILES_PUBLIC_URL or self.FILES_URL))
        return f"{url.scheme}://{url.netloc}"

    @field_validator("SESSION_KEY")
    @classmethod
    def _session_key(cls, key: SecretStr) -> SecretStr:
        parse_key(key.get_secret_value())
        return key

    @field_validator("SESSION_OLD_KEYS")
    @classmethod
    def _old_session_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            parse_key(key.get_secret_value())
        return keys

    def default_secrets(self) -> dict[str, bool]:
        return {
            **super().default_secrets(),
            "WEB_SESSION_KEY": self.SESSION_KEY.get_secret_value() == DEV_SESSION_KEY,
        }
