from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from nfhub_shared.config import BaseServiceSettings

DEV_SIGNING_SECRET = "dev-files-signing-secret-change-me-not-for-production"  # noqa: S105 - refused outside dev


class Settings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_prefix="FILES_")

    SERVICE_NAME: str = "files"

    STORAGE_BACKEND: Literal["local", "s3"] = "local"
    LOCAL_ROOT: Path = Path(".nfhub/storage")
    # Flush every write to the disk before answering (false only for scratch storage, where a
    # crash may lose the last uploads although they were answered 200).
    LOCAL_FSYNC: bool = True
    # Bytes all uploads together may hold in memory, received and not yet on the disk (each
    # holds up to 8 MiB); past it, uploads are slowed by TCP's flow control, not refused.
    LOCAL_UPLOAD_MEMORY_BYTES: int = Field(default=256 * 1024**2, ge=1024**2)
    # Base of the signed blob URLs of the local backend: where clients reach this service.
    FILES_URL: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8003")
    # Web origins (scheme://host[:port]) whose pages may PUT and GET the signed blob URLs
    # straight from the browser (the web app's uploads): CORS on /blobs/ only, the API itself
    # stays closed to pages of other origins. Empty: no CORS at all.
    CORS_ORIGINS: list[str] = Field(default_factory=list)
    SIGNING_SECRET: SecretStr = SecretStr(DEV_SIGNING_SECRET)
    URL_TTL_SECONDS: int = Field(default=900, ge=10, le=7 * 24 * 3600)
    MAX_OBJECT_BYTES: int = Field(default=5 * 1024**4, ge=1)

    S3_BUCKET: str | None = None
    S3_ENDPOINT_URL: AnyHttpUrl | None = None
    S3_REGION: str = "us-east-1"
    S3_ACCESS_KEY_ID: str | None = None
    S3_SECRET_ACCESS_KEY: SecretStr | None = None
    S3_PATH_STYLE: bool = False
    S3_CONNECT_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)

    MULTIPART_MIN_PART_BYTES: int = Field(default=5 * 1024**2, ge=1)
    MULTIPART_MAX_PARTS: int = Field(default=10_000, ge=1, le=10_000)

    ARCHIVE_WORKER_ENABLED: bool = True
    ARCHIVE_POLL_SECONDS: float = Field(default=1.0, gt=0)
    ARCHIVE_MAX_BYTES: int = Field(default=100 * 1024**3, ge=1)

    @field_validator("CORS_ORIGINS")
    @classmethod
    def _cors_origins(cls, origins: list[str]) -> list[str]:
        """An origin as browsers send it: no path, no trailing slash, no wildcard."""
        cleaned = []
        for origin in origins:
            url = urlsplit(origin)
            if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/"):
                raise ValueError(f"{origin!r} is not an origin such as https://web.example.org")
            if url.query or url.fragment or "*" in origin:
                raise ValueError(f"{origin!r} is not an origin such as https://web.example.org")
            cleaned.append(f"{url.scheme}://{url.netloc}".lower())
        return cleaned

    def default_secrets(self) -> dict[str, bool]:
        return {
            **super().default_secrets(),
            "FILES_SIGNING_SECRET": self.SIGNING_SECRET.get_secret_value() == DEV_SIGNING_SECRET,
        }
