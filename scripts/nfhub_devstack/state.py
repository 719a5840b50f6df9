"""The state folder (``.nfhub/``): its layout, the secrets made once, one devstack at a time."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nfhub_devstack.errors import fail
from nfhub_devstack.services import REPO_ROOT
from nfhub_shared.devtls import DevTls, write_atomic

# Made once per state folder and kept in secrets.env (0600); the environment or .env wins.
GENERATED_SECRETS = (
    "SERVICE_SECRET", "COMPUTE_WEBLOG_SECRET", "FILES_SIGNING_SECRET", "COMPUTE_SECRETS_KEY",
    "MINER_WEBHOOK_SECRETS_KEY", "WEB_SESSION_KEY",
)  # fmt: skip
AES_KEYS = ("COMPUTE_SECRETS_KEY", "MINER_WEBHOOK_SECRETS_KEY", "WEB_SESSION_KEY")


def new_secret(name: str) -> str:
    if name in AES_KEYS:  # an AES-256 key: exactly 32 bytes
        return secrets.token_hex(32)
    return secrets.token_urlsafe(48)


@dataclass(frozen=True)
class State:
    root: Path

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def keys(self) -> Path:
        return self.root / "keys"

    @property
    def jwt_key(self) -> Path:
        return self.keys / "jwt-ed25519.pem"

    @property
    def secrets_env(self) -> Path:
        return self.root / "secrets.env"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids.json"

    @property
    def lock(self) -> Path:
        return self.root / "devstack.lock"

    @property
    def demo_seed(self) -> Path:
        """The demo user, ids and token make run printed last (0600), reused while it works."""
        return self.root / "demo-seed.json"

    @property
    def stack_env(self) -> Path:
        """The running stack for shells: ``source .nfhub/stack.env`` (the README's examples)."""
        return self.root / "stack.env"

    @property
    def stack_json(self) -> Path:
        return self.root / "stack.json"

    @property
    def tls(self) -> DevTls:
        """The development CA and the services' certificate (made once, kept)."""
        return DevTls(self.root / "tls")

    @classmethod
    def from_env(cls) -> State:
        configured = os.environ.get("NFHUB_STATE_DIR")
        root = Path(configured).expanduser() if configured else REPO_ROOT / ".nfhub"
        return cls(root.resolve())

    def prepare(self) -> None:
        for folder in (self.root, self.storage, self.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.keys.mkdir(mode=0o700, exist_ok=True)
        self.keys.chmod(0o700)
        if not self.jwt_key.exists():
            key = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_private(self.jwt_key, key)
        known = read_env_file(self.secrets_env)
        if any(name not in known for name in GENERATED_SECRETS):
            body = "# generated once by scripts/devstack.py: the dev stack's secrets\n" + "".join(
                f"{name}={known.get(name) or new_secret(name)}\n" for name in GENERATED_SECRETS
            )
            write_private(self.secrets_env, body.encode())
        self.jwt_key.chmod(0o600)
        self.secrets_env.chmod(0o600)

    def expand(self, value: str) -> str:
        return value.format(state=self.root, storage=self.storage, logs=self.logs)


def stack_env_text(
    services: Mapping[str, str | None],
    tls: DevTls | None,
    seed: Mapping[str, Any] | None,
) -> str:
    """What ``stack.env`` holds: each service's URL (ADMIN, COMPUTE, FILES, MINER), what curl
    and Python trust (the public CAs plus the dev CA), and the demo user, token and project."""
    values: dict[str, str] = {
        name.upper(): url for name, url in services.items() if url is not None
    }
    if tls is not None:
        values.update(
            CA=str(tls.ca_cert), CURL_CA_BUNDLE=str(tls.bundle), SSL_CERT_FILE=str(tls.bundle)
        )
    if seed is not None:
        values.update(
            TOKEN=str(seed["token"]),
            P=str(seed["project_id"]),
            ORG=str(seed["org_id"]),
            DEMO_USER=str(seed["user"]),
            DEMO_PASSWORD=str(seed["password"]),
        )
    lines = [
        "# The running nfhub dev stack, for shells: source it (make run writes it when ready",
        "# and removes it when it stops). TOKEN is the demo user's; P the demo project's id.",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def write_private(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically."""
    write_atomic(path, data, 0o600)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=VALUE lines of a dotenv file (comments, blank lines and ``export`` tolerated)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@contextlib.contextmanager
def single_instance(state: State) -> Iterator[None]:
    with state.lock.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            fail(f"another devstack (pid {holder}) already uses {state.root}")
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
