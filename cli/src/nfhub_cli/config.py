"""Where the CLI keeps what ``nfhub login`` learnt: the services' URLs, the token, the project.

One JSON file in the user's config folder (``~/.config/nfhub/config.json``, or
``$NFHUB_CONFIG_DIR``), readable by its owner only: it holds a personal access token.
``NFHUB_TOKEN`` and ``NFHUB_PROJECT`` in the environment win over it (for CI jobs).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer

SERVICES = ("admin", "compute", "files", "miner")
CONFIG_NAME = "config.json"


class ConfigError(Exception):
    """The configuration is missing something a command needs; the message says what to do."""


def config_dir() -> Path:
    configured = os.environ.get("NFHUB_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path(typer.get_app_dir("nfhub"))


@dataclass
class Config:
    urls: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    token_id: str | None = None
    username: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    ca_file: str | None = None
    # NFHUB_TOKEN / NFHUB_PROJECT: they win over the file's values but are never saved into it
    # (saving must not write a CI job's secret to disk).
    env_token: str | None = field(default=None, repr=False)
    env_project: str | None = field(default=None, repr=False)

    @property
    def path(self) -> Path:
        return config_dir() / CONFIG_NAME

    @classmethod
    def load(cls) -> Config:
        path = config_dir() / CONFIG_NAME
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read {path}: {exc}; log in again with `nfhub login`"
            ) from exc
        known = {name: data[name] for name in _SAVED_FIELDS if name in data}
        return cls(
            **known,
            env_token=os.environ.get("NFHUB_TOKEN") or None,
            env_project=os.environ.get("NFHUB_PROJECT") or None,
        )

    def save(self) -> None:
        """Write the file 0600 in a 0700 folder, atomically (never a moment world-readable)."""
        folder = config_dir()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
        tmp = folder / f".{CONFIG_NAME}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({name: asdict(self)[name] for name in _SAVED_FIELDS}, handle, indent=2)
            handle.write("\n")
        os.replace(tmp, self.path)

    def url(self, service: str) -> str:
        try:
            return self.urls[service]
        except KeyError:
            raise ConfigError(
                f"no {service} URL configured; run `nfhub login --url <admin URL>` first"
            ) from None

    def require_token(self) -> str:
        token = self.env_token or self.token
        if not token:
            raise ConfigError("not logged in: run `nfhub login` (or set NFHUB_TOKEN)")
        return token

    def require_project(self) -> str:
        project_id = self.current_project()
        if not project_id:
            raise ConfigError(
                "no project chosen: run `nfhub projects use <slug or id>` (or set NFHUB_PROJECT)"
            )
        return project_id

    def current_project(self) -> str | None:
        return self.env_project or self.project_id


_SAVED_FIELDS = ("urls", "token", "token_id", "username", "project_id", "project_name", "ca_file")


def derive_urls(admin_url: str, overrides: dict[str, str | None]) -> dict[str, str]:
    """The other services' URLs from admin's, by the gateway's host names (admin.example.org →
    files.example.org) or make run's consecutive ports (admin:8001 → files:8003, also when
    NFHUB_BASE_PORT moved them); explicit ones win."""
    admin_url = admin_url.rstrip("/")
    parts = urlsplit(admin_url)
    host = parts.hostname or ""
    urls = {"admin": admin_url}
    for service in SERVICES[1:]:
        explicit = overrides.get(service)
        if explicit:
            urls[service] = explicit.rstrip("/")
            continue
        if host.startswith("admin."):
            netloc = parts.netloc.replace("admin.", f"{service}.", 1)
        elif parts.port is not None:
            netloc = parts.netloc.rsplit(":", 1)[0] + f":{parts.port + SERVICES.index(service)}"
        else:
            raise ConfigError(
                f"cannot guess the {service} URL from {admin_url}; give --{service}-url"
            )
        urls[service] = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return urls
